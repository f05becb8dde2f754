// Package trigger turns S3 bucket notifications into deploy requests.
//
// Three triggers deliver Events: Webhook (an http.Handler for the S3 event
// notification JSON that MinIO's webhook target and AWS send), Listen
// (MinIO's ListenBucketNotification stream, reconnecting with backoff) and
// Poll (a listing every interval, the safety net for lost notifications).
// Each implements Trigger.
//
// Notifications are at-least-once: late, duplicated or out of order. Queue
// is the small piece of state the daemon's work loop keeps to cope with
// that: it deduplicates by ETag/version id, coalesces a burst into the
// newest artifact, never goes back to an older one, and does not retry an
// artifact that was rejected until it changes.
package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Event is one object notification, normalised from any trigger.
type Event struct {
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`                  // decoded object key
	ETag      string    `json:"etag,omitempty"`       // without quotes
	VersionID string    `json:"version_id,omitempty"` // empty on unversioned buckets
	Sequencer string    `json:"sequencer,omitempty"`  // S3 ordering hint for one key (hex)
	Size      int64     `json:"size,omitempty"`
	Time      time.Time `json:"time"`             // event time, or the object's LastModified (poll)
	Name      string    `json:"name,omitempty"`   // e.g. "s3:ObjectCreated:Put"
	Origin    string    `json:"origin,omitempty"` // "webhook", "listen" or "poll"
	// Received is when this process received the notification (set by
	// the trigger), for the notification-to-live time in the logs.
	Received time.Time `json:"-"`
	// Instance, if set, is part of the ID: it tells apart two uploads of
	// the same bytes that mean two releases (an empty completion marker
	// has the same ETag every time it is uploaded). Set by the consumer.
	Instance string `json:"-"`
}

// Removed reports whether the event is a deletion (s3:ObjectRemoved:*,
// ObjectRemoved:* on AWS). Deletions never start a deploy.
func (e Event) Removed() bool {
	return strings.Contains(e.Name, "ObjectRemoved")
}

// ID identifies the artifact an event is about: bucket, key and version id
// when the bucket is versioned, else bucket, key and ETag. Two events with
// the same ID are about the same bytes.
func (e Event) ID() string {
	if e.VersionID != "" && e.VersionID != "null" {
		return e.Bucket + "/" + e.Key + "?versionId=" + e.VersionID
	}
	if e.Instance != "" {
		return e.Bucket + "/" + e.Key + "#" + e.ETag + "@" + e.Instance
	}
	return e.Bucket + "/" + e.Key + "#" + e.ETag
}

func (e Event) String() string {
	return fmt.Sprintf("s3://%s/%s (etag %s, version %q, %s)", e.Bucket, e.Key, e.ETag, e.VersionID, e.Time.UTC().Format(time.RFC3339Nano))
}

// Trigger delivers events on out until ctx is done or it fails for good.
// Run returns ctx.Err() after cancellation; it never closes out.
type Trigger interface {
	Run(ctx context.Context, out chan<- Event) error
}

// Filter selects the events of one site. Zero fields match everything.
type Filter struct {
	Bucket string
	Prefix string // key prefix
	Suffix string // key suffix, e.g. ".release-complete" for prefix sites
}

// Match reports whether e passes the filter.
func (f Filter) Match(e Event) bool {
	return (f.Bucket == "" || e.Bucket == f.Bucket) &&
		strings.HasPrefix(e.Key, f.Prefix) && strings.HasSuffix(e.Key, f.Suffix)
}

// ErrMalformed is returned (wrapped) by ParseEvent for a payload that is
// not S3 event notification JSON.
var ErrMalformed = errors.New("malformed event notification")

// The wire format: AWS S3 event notifications and MinIO's (which adds
// EventName/Key at the top level and uses the same Records).
type wireRecords struct {
	Records *[]wireRecord `json:"Records"`
	Event   *string       `json:"Event"` // AWS "s3:TestEvent" has no Records
}

type wireRecord struct {
	EventName string `json:"eventName"`
	EventTime string `json:"eventTime"`
	S3        struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string          `json:"key"`
			Size      json.RawMessage `json:"size"`
			ETag      string          `json:"eTag"`
			VersionID string          `json:"versionId"`
			Sequencer string          `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// maxRecords bounds the records of one payload.
const maxRecords = 10_000

// ParseEvent parses an S3 event notification document (the Records[]
// format). Object keys are URL-decoded as S3 and MinIO encode them ("+"
// is a space). A document without Records (an AWS test event) yields no
// events and no error. Anything else that is not such a document,
// including a record without bucket or key, fails with ErrMalformed.
func ParseEvent(body []byte) ([]Event, error) {
	var w wireRecords
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON document", ErrMalformed)
	}
	if w.Records == nil {
		if w.Event != nil {
			return nil, nil // s3:TestEvent
		}
		return nil, fmt.Errorf("%w: no Records", ErrMalformed)
	}
	if len(*w.Records) > maxRecords {
		return nil, fmt.Errorf("%w: %d records (at most %d)", ErrMalformed, len(*w.Records), maxRecords)
	}
	out := make([]Event, 0, len(*w.Records))
	for i, r := range *w.Records {
		e, err := r.event()
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", ErrMalformed, i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func (r *wireRecord) event() (Event, error) {
	o := r.S3.Object
	if r.S3.Bucket.Name == "" {
		return Event{}, errors.New("no s3.bucket.name")
	}
	key, err := url.QueryUnescape(o.Key)
	if err != nil {
		return Event{}, fmt.Errorf("s3.object.key %q: %w", o.Key, err)
	}
	if key == "" {
		return Event{}, errors.New("no s3.object.key")
	}
	e := Event{
		Bucket:    r.S3.Bucket.Name,
		Key:       key,
		ETag:      strings.Trim(o.ETag, `"`),
		VersionID: o.VersionID,
		Sequencer: o.Sequencer,
		Name:      r.EventName,
	}
	if len(o.Size) > 0 && string(o.Size) != "null" {
		if err := json.Unmarshal(o.Size, &e.Size); err != nil || e.Size < 0 {
			return Event{}, fmt.Errorf("s3.object.size %s: not a size", o.Size)
		}
	}
	if r.EventTime != "" {
		t, err := time.Parse(time.RFC3339Nano, r.EventTime)
		if err != nil {
			return Event{}, fmt.Errorf("eventTime %q: %w", r.EventTime, err)
		}
		e.Time = t
	}
	return e, nil
}

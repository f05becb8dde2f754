// Package s3 is the S3 artifact source: s3://bucket/key (one archive
// object, streamed into archive extraction) and s3://bucket/prefix/ (a
// tree of objects, complete only once its marker object exists).
//
// # Connection and credentials
//
// A Client is made from a Config the caller fills explicitly, and serves
// the "s3" scheme of an ingest.Openers value (ingest.Openers{"s3":
// client.Open}); importing this package registers nothing. The daemon
// maps its [s3] section to a Config and shares one Client between every
// deploy and trigger; releasectl's direct mode uses OpenFromEnv, which
// takes the Config from the environment as the AWS SDKs read it
// (ConfigFromEnv: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION).
// Credentials come from Config.CredentialsFile if set, else from
// minio-go's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
// AWS_SESSION_TOKEN, the shared credentials file, the instance role).
// Credentials never appear in a SOURCE string, in Info or in a log line.
//
// # Integrity
//
// Every sha256 the pipeline gives is verified: ingest.Options.SHA256, the
// object's x-amz-meta-sha256, a full-object x-amz-checksum-sha256, a
// KEY.sha256 object next to an archive, and the per-file sha256 of a
// prefix's marker. A mismatch fails the fetch with ingest.ErrChecksum and
// names the object.
//
// # Incremental prefixes
//
// Objects whose sha256 is known before the download (from the marker or
// x-amz-meta-sha256) are linked from the live release when it has that
// content. Without sums (a prefix uploaded by `aws s3 sync` or `mc
// mirror` with an empty marker), the source remembers, in
// ingest.Options.CacheDir (the store's state directory, SumCacheFile),
// the sha256 of every object it downloaded by bucket, key, ETag and size.
// On the next pull an object with the same ETag and size is taken from
// the live release, but only if the live file, read again, still hashes
// to the remembered sum (the ETag is a hint, never trusted alone): an
// unchanged object costs a local read instead of a GET. The cache is
// written atomically and durably at the end of a successful pull, holds at
// most 200,000 entries, and a missing or corrupt cache is a full pull.
//
// # Failures
//
// Errors are *ObjectError values wrapping a sentinel: ingest.ErrNotFound,
// ErrAccessDenied (final), ErrIncomplete (no marker yet), ErrChanged,
// ErrUnavailable (network/5xx errors that outlived the retries, which use
// capped exponential backoff with jitter and resume interrupted transfers
// with ranged requests pinned to the ETag). Fetch returns an error rather
// than a partial artifact; the caller discards the staging directory.
package s3

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/safewrite"
)

// Spec is a parsed s3:// SOURCE.
type Spec struct {
	Bucket    string
	Key       string // object key, or the prefix (ending in "/", or "" for the whole bucket)
	VersionID string // from ?versionId=, archive objects only
}

// IsPrefix reports whether the spec names a prefix (a tree of objects).
func (s Spec) IsPrefix() bool { return s.Key == "" || strings.HasSuffix(s.Key, "/") }

func (s Spec) String() string {
	v := "s3://" + s.Bucket + "/" + s.Key
	if s.VersionID != "" {
		v += "?versionId=" + url.QueryEscape(s.VersionID)
	}
	return v
}

// ParseSpec parses "s3://bucket/key", "s3://bucket/prefix/" or
// "s3://bucket/key?versionId=V". User info (credentials) in the string is
// refused.
func ParseSpec(spec string) (Spec, error) {
	rest, ok := strings.CutPrefix(spec, "s3://")
	if !ok {
		return Spec{}, fmt.Errorf("%w %q: want s3://bucket/key or s3://bucket/prefix/", ErrBadSpec, spec)
	}
	var s Spec
	if path, q, ok := strings.Cut(rest, "?"); ok {
		rest = path
		vals, err := url.ParseQuery(q)
		if err != nil {
			return Spec{}, fmt.Errorf("%w: query of %q: %w", ErrBadSpec, spec, err)
		}
		for k := range vals {
			if k != "versionId" {
				return Spec{}, fmt.Errorf("%w: %q: unknown parameter %q (only versionId)", ErrBadSpec, spec, k)
			}
		}
		s.VersionID = vals.Get("versionId")
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if strings.Contains(bucket, "@") || strings.Contains(bucket, ":") {
		return Spec{}, fmt.Errorf("%w: bucket %q: credentials or ports do not belong in a SOURCE (use the environment)", ErrBadSpec, bucket)
	}
	if len(bucket) < 3 || len(bucket) > 63 || strings.ToLower(bucket) != bucket {
		return Spec{}, fmt.Errorf("%w: %q: bucket name %q is not valid", ErrBadSpec, spec, bucket)
	}
	s.Bucket, s.Key = bucket, key
	if s.IsPrefix() && s.VersionID != "" {
		return Spec{}, fmt.Errorf("%w: %q: versionId applies to one object, not a prefix", ErrBadSpec, spec)
	}
	return s, nil
}

// Source is one S3 artifact. Fetch may be called once.
type Source struct {
	spec   Spec
	cfg    Config
	opts   ingest.Options
	client *minio.Client

	stats Stats
}

// Stats count what a Fetch transferred. Safe to read after Fetch returns.
type Stats struct {
	Objects    int64 // objects in the artifact
	Downloaded int64 // objects downloaded
	Linked     int64 // objects taken from the live release (sink.Existing)
	Bytes      int64 // bytes received from S3 (whole artifact for an archive)
	Resumes    int64 // interrupted transfers resumed
}

// Open makes a Client for cfg and opens spec on it; nothing is contacted
// yet. To share a client between sources, use Client.Source.
func Open(_ context.Context, cfg Config, spec string, opts ingest.Options) (*Source, error) {
	if _, err := ParseSpec(spec); err != nil {
		return nil, err
	}
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return c.Source(spec, opts)
}

// Client returns the minio-go client the source reads with.
func (s *Source) Client() *minio.Client { return s.client }

// Stats returns the transfer counters of the last Fetch.
func (s *Source) Stats() Stats { return s.stats }

func (s *Source) retrier() retrier {
	return retrier{cfg: s.cfg.Retry, logf: s.cfg.Logger.Warn}
}

// Fetch streams the artifact into sink. See the package documentation for
// what is verified and which errors it returns.
func (s *Source) Fetch(ctx context.Context, sink safewrite.Sink) (ingest.Info, error) {
	if s.spec.IsPrefix() {
		return s.fetchPrefix(ctx, sink)
	}
	return s.fetchObject(ctx, sink)
}

// metaInfo fills Info.Meta with the object's identity and the pipeline's
// x-amz-meta-* values.
func metaInfo(m map[string]string, prefix string, info minio.ObjectInfo) {
	m[prefix+"key"] = info.Key
	m[prefix+"etag"] = strings.Trim(info.ETag, `"`)
	if info.VersionID != "" {
		m[prefix+"version_id"] = info.VersionID
	}
	if !info.LastModified.IsZero() {
		m[prefix+"last_modified"] = info.LastModified.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	for k, v := range info.UserMetadata {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-amz-meta-") {
			lk = "x-amz-meta-" + lk
		}
		m[lk] = v
	}
}

var _ ingest.Source = (*Source)(nil)

type counters struct {
	downloaded, linked, bytes, resumes atomic.Int64
}

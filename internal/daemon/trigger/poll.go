package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Poll is a Trigger that lists Filter.Prefix every Interval and reports
// each object (matching Filter.Suffix) that is new or changed since the
// previous listing; the first listing reports everything. It is the safety
// net for lost notifications: a lost event delays a release by at most
// Interval instead of losing it.
type Poll struct {
	Client   *minio.Client
	Filter   Filter // Bucket is required
	Interval time.Duration
	Logger   *slog.Logger

	seen map[string]string // key -> etag/version
}

// DefaultPollInterval is the interval when another trigger is on.
const DefaultPollInterval = 5 * time.Minute

// Run polls until ctx is done and returns ctx.Err(). A failed listing is
// logged and retried at the next interval.
func (p *Poll) Run(ctx context.Context, out chan<- Event) error {
	lg := p.Logger
	if lg == nil {
		lg = slog.Default()
	}
	iv := p.Interval
	if iv <= 0 {
		iv = DefaultPollInterval
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		evs, err := p.Once(ctx)
		if err != nil && ctx.Err() == nil {
			lg.Warn("trigger: poll failed", "bucket", p.Filter.Bucket, "prefix", p.Filter.Prefix, "err", err)
		}
		for _, e := range evs {
			select {
			case out <- e:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Once lists the prefix one time and returns the events for new or changed
// objects. Not safe for concurrent use with itself or Run.
func (p *Poll) Once(ctx context.Context) ([]Event, error) {
	if p.seen == nil {
		p.seen = map[string]string{}
	}
	next := make(map[string]string, len(p.seen))
	var evs []Event
	for o := range p.Client.ListObjects(ctx, p.Filter.Bucket, minio.ListObjectsOptions{Prefix: p.Filter.Prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", p.Filter.Bucket, p.Filter.Prefix, o.Err)
		}
		e := Event{
			Bucket: p.Filter.Bucket, Key: o.Key, ETag: strings.Trim(o.ETag, `"`), VersionID: o.VersionID,
			Size: o.Size, Time: o.LastModified, Name: "s3:ObjectCreated:Poll", Origin: "poll", Received: time.Now(),
		}
		if !p.Filter.Match(e) {
			continue
		}
		id := e.ID()
		next[o.Key] = id
		if p.seen[o.Key] != id {
			evs = append(evs, e)
		}
	}
	p.seen = next
	return evs, nil
}

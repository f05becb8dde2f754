package trigger

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"
)

// Listen is a Trigger on MinIO's ListenBucketNotification API (a MinIO
// extension; AWS does not have it). The stream is reopened with backoff
// whenever it drops or fails; events that happen while it is down are
// lost, which is why Poll exists.
type Listen struct {
	Client  *minio.Client
	Filter  Filter   // Bucket is required; the server filters by Prefix (and Suffix, see serverFilter), Match by all
	Events  []string // default s3:ObjectCreated:*
	Backoff Backoff
	Logger  *slog.Logger
	// OnConnect, if set, is called each time the stream is (re)opened and
	// the server accepted it; tests use it to know when to upload.
	OnConnect func()
}

// Run listens until ctx is done and returns ctx.Err().
func (l *Listen) Run(ctx context.Context, out chan<- Event) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	events := l.Events
	if len(events) == 0 {
		events = []string{"s3:ObjectCreated:*"}
	}
	prefix, suffix := serverFilter(l.Filter)
	attempt := 0
	for {
		sctx, cancel := context.WithCancel(ctx)
		ch := l.Client.ListenBucketNotification(sctx, l.Filter.Bucket, prefix, suffix, events)
		if l.OnConnect != nil {
			l.OnConnect()
		}
		start := time.Now()
		var streamErr error
		for info := range ch {
			if info.Err != nil {
				streamErr = info.Err
				break
			}
			attempt = 0
			for _, r := range info.Records {
				e, ok := fromNotification(r)
				if !ok || !l.Filter.Match(e) {
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
					cancel()
					return ctx.Err()
				}
			}
		}
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > time.Minute {
			attempt = 0 // it was up for a while: start the backoff over
		}
		lg.Warn("trigger: listen stream dropped, reconnecting", "bucket", l.Filter.Bucket, "err", streamErr, "attempt", attempt+1)
		if err := l.Backoff.sleep(ctx, attempt); err != nil {
			return err
		}
		attempt++
	}
}

// serverFilter returns the prefix and suffix to send to the server. MinIO
// matches a listener's rule as the pattern PREFIX*SUFFIX, so a suffix that
// the prefix already ends with (an object source: Prefix and Suffix are
// both its key) would make the pattern need the key twice and match
// nothing: the suffix is then left to Filter.Match on this side.
func serverFilter(f Filter) (prefix, suffix string) {
	if f.Suffix != "" && strings.HasSuffix(f.Prefix, f.Suffix) {
		return f.Prefix, ""
	}
	return f.Prefix, f.Suffix
}

func fromNotification(r notification.Event) (Event, bool) {
	var w wireRecord
	w.EventName = r.EventName
	w.EventTime = r.EventTime
	w.S3.Bucket.Name = r.S3.Bucket.Name
	w.S3.Object.Key = r.S3.Object.Key
	w.S3.Object.ETag = r.S3.Object.ETag
	w.S3.Object.VersionID = r.S3.Object.VersionID
	w.S3.Object.Sequencer = r.S3.Object.Sequencer
	e, err := w.event()
	if err != nil {
		return Event{}, false
	}
	e.Size = r.S3.Object.Size
	e.Origin = "listen"
	e.Received = time.Now()
	e.ETag = strings.Trim(e.ETag, `"`)
	return e, true
}

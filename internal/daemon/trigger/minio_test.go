package trigger

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/example/release-agent/internal/testutil/testenv"
)

func putObj(t testing.TB, cl *minio.Client, bucket, key, body string) minio.UploadInfo {
	t.Helper()
	ui, err := cl.PutObject(context.Background(), bucket, key, bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return ui
}

func recv(t testing.TB, ch <-chan Event, what string) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(60 * time.Second):
		t.Fatalf("no event for %s", what)
		return Event{}
	}
}

// MinIO's webhook target delivers to our handler; a burst of 100 uploads
// goes through the Queue and becomes one or two deploys, the last being
// the newest upload.
func TestWebhookFromMinIOBurstCoalesced(t *testing.T) {
	tok := testenv.RandomString(32)
	tf := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tf, []byte(tok), 0o600)
	wh, err := NewWebhook(WebhookConfig{TokenFile: tf, Filter: Filter{Bucket: "site", Suffix: ".tar.gz"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wh)
	defer srv.Close()
	m := testenv.StartMinIO(t, &testenv.MinIOOptions{Env: testenv.WebhookEnv("RA", srv.URL, tok)})
	m.MakeBucket(t, "site")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := notification.Configuration{}
	arn, _ := notification.NewArnFromString(testenv.WebhookARN("RA"))
	qc := notification.NewConfig(arn)
	qc.AddEvents(notification.ObjectCreatedAll)
	cfg.AddQueue(qc)
	m.SetBucketNotification(t, "site", cfg)
	events := make(chan Event, 256)
	go wh.Run(ctx, events)

	q := NewQueue(QueueOptions{Settle: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	go func() {
		for e := range events {
			q.Add(e)
		}
	}()
	var last minio.UploadInfo
	for i := range 100 {
		last = putObj(t, m.Client, "site", "site.tar.gz", fmt.Sprintf("build %d", i))
		putObj(t, m.Client, "site", "notes.txt", "filtered out") // other suffix
	}
	// The work loop: deploy until the newest upload is live.
	var deploys []Event
	for {
		nctx, ncancel := context.WithTimeout(ctx, 60*time.Second)
		e, err := q.Next(nctx)
		ncancel()
		if err != nil {
			t.Fatalf("waiting for the newest upload (deploys so far %v): %v", deploys, err)
		}
		if e.Key != "site.tar.gz" || e.Origin != "webhook" {
			t.Fatalf("unexpected event %+v", e)
		}
		deploys = append(deploys, e)
		q.Done(e, Deployed)
		if e.ETag == last.ETag {
			break
		}
	}
	acc, drop := q.Stats()
	t.Logf("100 uploads → %d deploys (events accepted %d, dropped %d)", len(deploys), acc, drop)
	if len(deploys) > 2 {
		t.Fatalf("%d deploys for a burst of 100 uploads, want 1 or 2", len(deploys))
	}
}

// The listen trigger sees an upload, and reconnects after MinIO restarts.
func TestListenReconnects(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	connected := make(chan struct{}, 16)
	l := &Listen{Client: m.Client, Filter: Filter{Bucket: "site", Prefix: "www/", Suffix: ".release-complete"},
		Backoff: Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		Logger:  slog.New(slog.DiscardHandler), OnConnect: func() { connected <- struct{}{} }}
	out := make(chan Event, 16)
	go l.Run(ctx, out)
	<-connected
	// The request is sent asynchronously: upload until an event arrives.
	first := waitUpload(t, m.Client, out, "www/.release-complete", "v1")
	if first.Bucket != "site" || first.Origin != "listen" {
		t.Fatalf("got %+v", first)
	}
	m.Stop()
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	e := waitUpload(t, m.Client, out, "www/.release-complete", "v2")
	if e.ETag == first.ETag {
		t.Fatalf("same etag after a new upload: %+v", e)
	}
}

// waitUpload uploads key repeatedly (a listener may not be registered at the
// first upload) until an event for it arrives, then returns that event.
func waitUpload(t *testing.T, cl *minio.Client, out <-chan Event, key, body string) Event {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		ui, err := cl.PutObject(context.Background(), "site", key, bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{})
		if err != nil { // server still starting
			time.Sleep(100 * time.Millisecond)
			continue
		}
		select {
		case e := <-out:
			if e.Key != key || e.ETag != ui.ETag {
				continue
			}
			return e
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Fatalf("no listen event for %s", key)
	return Event{}
}

func TestPoll(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	p := &Poll{Client: m.Client, Filter: Filter{Bucket: "site", Prefix: "www/", Suffix: ".release-complete"}}
	ctx := context.Background()
	if evs, err := p.Once(ctx); err != nil || len(evs) != 0 {
		t.Fatalf("empty bucket: %v %v", evs, err)
	}
	ui := putObj(t, m.Client, "site", "www/.release-complete", "1")
	putObj(t, m.Client, "site", "www/index.html", "x")
	evs, err := p.Once(ctx)
	if err != nil || len(evs) != 1 || evs[0].ETag != ui.ETag || evs[0].Origin != "poll" {
		t.Fatalf("after upload: %+v %v", evs, err)
	}
	if evs, err := p.Once(ctx); err != nil || len(evs) != 0 {
		t.Fatalf("unchanged: %+v %v", evs, err)
	}
	putObj(t, m.Client, "site", "www/.release-complete", "2")
	if evs, err := p.Once(ctx); err != nil || len(evs) != 1 {
		t.Fatalf("changed: %+v %v", evs, err)
	}
}

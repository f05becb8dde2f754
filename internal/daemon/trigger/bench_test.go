package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// BenchmarkUploadToEvent measures the latency from the end of a PutObject
// to the event reaching the trigger's output, for the webhook target and
// the listen API of the same MinIO, in one run.
func BenchmarkUploadToEvent(b *testing.B) {
	tok := testenv.RandomString(32)
	tf := filepath.Join(b.TempDir(), "token")
	os.WriteFile(tf, []byte(tok), 0o600)
	wh, err := NewWebhook(WebhookConfig{TokenFile: tf, Filter: Filter{Bucket: "site", Prefix: "hook/"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(wh)
	defer srv.Close()
	m := testenv.StartMinIO(b, &testenv.MinIOOptions{Env: testenv.WebhookEnv("RA", srv.URL, tok)})
	m.MakeBucket(b, "site")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arn, _ := notification.NewArnFromString(testenv.WebhookARN("RA"))
	qc := notification.NewConfig(arn)
	qc.AddEvents(notification.ObjectCreatedAll)
	qc.AddFilterPrefix("hook/")
	cfg := notification.Configuration{}
	cfg.AddQueue(qc)
	m.SetBucketNotification(b, "site", cfg)
	hookOut := make(chan Event, 16)
	go wh.Run(ctx, hookOut)
	listenOut := make(chan Event, 16)
	l := &Listen{Client: m.Client, Filter: Filter{Bucket: "site", Prefix: "listen/"}, Logger: slog.New(slog.DiscardHandler)}
	go l.Run(ctx, listenOut)
	waitUploadB := func(key string, out <-chan Event) time.Duration {
		// retry until the listener is registered (first iteration only)
		for {
			ui := putObj(b, m.Client, "site", key, fmt.Sprint(time.Now().UnixNano()))
			t0 := time.Now()
			select {
			case e := <-out:
				if e.ETag == ui.ETag {
					return time.Since(t0)
				}
			case <-time.After(2 * time.Second):
			}
		}
	}
	waitUploadB("listen/warm", listenOut)
	waitUploadB("hook/warm", hookOut)
	var hook, listen time.Duration
	for b.Loop() {
		hook += waitUploadB("hook/site.tar.gz", hookOut)
		listen += waitUploadB("listen/site.tar.gz", listenOut)
	}
	b.ReportMetric(float64(hook.Microseconds())/1000/float64(b.N), "webhook_ms/event")
	b.ReportMetric(float64(listen.Microseconds())/1000/float64(b.N), "listen_ms/event")
}

package notify

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkNotify is the cost a deploy pays to notify: the baseline with
// no endpoint, then one endpoint that hangs (its queue full after the
// first QueueSize calls: every further call is a drop, counted and
// logged), and one that answers at once.
func BenchmarkNotify(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ev := Event{Event: Deploy, Site: "www", Release: "v42", Previous: "v41", Source: "s3://builds/www/"}
	run := func(b *testing.B, eps []Endpoint) {
		n := New(eps, Options{Log: quiet, Host: "web1", OnDrop: func(string, string, string) {}})
		b.ResetTimer()
		for range b.N {
			n.Notify(ev)
		}
		b.StopTimer()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n.Close(ctx)
	}
	b.Run("none", func(b *testing.B) { run(b, nil) })
	b.Run("hanging", func(b *testing.B) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		run(b, []Endpoint{{Name: "hanging", URL: srv.URL}})
	})
	b.Run("ok", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		defer srv.Close()
		run(b, []Endpoint{{Name: "ok", URL: srv.URL}})
	})
}

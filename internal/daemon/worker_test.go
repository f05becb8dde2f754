package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/daemon/trigger"
)

func testDaemon(t *testing.T) *Daemon {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Daemon{ctx: ctx, log: slog.New(slog.NewTextHandler(io.Discard, nil)), heartbeat: time.Hour, metrics: newMetrics(),
		opts: Options{Notify: func(string) error { return nil }}}
}

// TestEnqueueCoalesces: a pending job is replaced by a newer one and told
// which one superseded it; the loop takes only the newest.
func TestEnqueueCoalesces(t *testing.T) {
	w, err := newWorker(testDaemon(t), &config.Site{Name: "www"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for _, name := range []string{"a", "b", "c"} {
		w.enqueue(&job{what: name, skipped: func(by *job) { skipped = append(skipped, name+" by "+by.what) }})
	}
	j := w.take()
	if j == nil || j.what != "c" {
		t.Fatalf("take = %+v, want c", j)
	}
	if strings.Join(skipped, ", ") != "a by b, b by c" {
		t.Errorf("skipped = %q", skipped)
	}
	if w.take() != nil {
		t.Error("a second take returned a job")
	}
}

// TestAlive: the watchdog is fed only while the loop turns; a deploy in
// progress counts as alive until it outlives jobTimeout.
func TestAlive(t *testing.T) {
	w, err := newWorker(testDaemon(t), &config.Site{Name: "www"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	w.beat.Store(now.UnixNano())
	if !w.alive(time.Minute) {
		t.Error("a loop that just turned is not alive")
	}
	w.beat.Store(now.Add(-2 * time.Minute).UnixNano())
	if w.alive(time.Minute) {
		t.Error("a loop that has not turned for 2 minutes is alive with a 1 minute watchdog")
	}
	w.busySince.Store(now.Add(-10 * time.Minute).UnixNano())
	if !w.alive(time.Minute) {
		t.Error("a loop 10 minutes into a deploy is not alive")
	}
	w.busySince.Store(now.Add(-jobTimeout - 2*time.Minute).UnixNano())
	if w.alive(time.Minute) {
		t.Error("a deploy that outlived jobTimeout still counts as alive")
	}
	st := &state{workers: map[string]*worker{"www": w}}
	if st.alive(time.Minute) {
		t.Error("state with a dead loop is alive")
	}
}

func TestCheckHealth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Host != "www.example.org" {
				http.Error(w, "wrong vhost "+r.Host, 404)
				return
			}
			io.WriteString(w, "<title>Example</title>")
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			http.Error(w, "boom", 500)
		}
	}))
	defer srv.Close()
	h := &config.Health{URLs: []string{srv.URL + "/ok"}, ExpectStatus: 200, ExpectBody: "<title>Example", Timeout: config.Duration(5 * time.Second), Host: "www.example.org"}
	if err := checkHealth(context.Background(), h); err != nil {
		t.Errorf("healthy: %v", err)
	}
	for name, mod := range map[string]func(h *config.Health){
		"status":   func(h *config.Health) { h.URLs = []string{srv.URL + "/bad"} },
		"body":     func(h *config.Health) { h.ExpectBody = "nope" },
		"vhost":    func(h *config.Health) { h.Host = "other" },
		"redirect": func(h *config.Health) { h.URLs = []string{srv.URL + "/redirect"} },
		"refused":  func(h *config.Health) { h.URLs = []string{"http://127.0.0.1:1/"} },
	} {
		hh := *h
		mod(&hh)
		err := checkHealth(context.Background(), &hh)
		if err == nil || !strings.Contains(err.Error(), "GET ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := checkHealth(ctx, h); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestS3Filter(t *testing.T) {
	f, ok := s3Filter("s3://b/site/")
	if !ok || f.Bucket != "b" || f.Prefix != "site/" || f.Suffix != ".release-complete" {
		t.Errorf("prefix: %+v %v", f, ok)
	}
	f, ok = s3Filter("s3://b/builds/site.tar.gz")
	if !ok || f.Prefix != "builds/site.tar.gz" || f.Suffix != "builds/site.tar.gz" {
		t.Errorf("object: %+v %v", f, ok)
	}
	if _, ok := s3Filter("/srv/x.tar"); ok {
		t.Error("a local source has an S3 filter")
	}
}

// TestMarkerEvent: a prefix site deploys on its own completion marker
// only, and each upload of an (empty, same-ETag) marker is a new
// artifact, while a duplicate delivery of one notification is not.
func TestMarkerEvent(t *testing.T) {
	f, _ := s3Filter("s3://b/site/")
	at := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	empty := "d41d8cd98f00b204e9800998ecf8427e"
	for _, key := range []string{"site/index.html", "site/sub/.release-complete", "other/.release-complete"} {
		if _, ok := markerEvent(trigger.Event{Bucket: "b", Key: key, ETag: empty, Time: at}, f); ok {
			t.Errorf("%s starts a deploy of s3://b/site/", key)
		}
	}
	first, ok := markerEvent(trigger.Event{Bucket: "b", Key: "site/.release-complete", ETag: empty, Sequencer: "17E0A1", Time: at}, f)
	if !ok {
		t.Fatal("the marker starts no deploy")
	}
	again, _ := markerEvent(trigger.Event{Bucket: "b", Key: "site/.release-complete", ETag: empty, Sequencer: "17E0A1", Time: at}, f)
	second, _ := markerEvent(trigger.Event{Bucket: "b", Key: "site/.release-complete", ETag: empty, Sequencer: "17E0B7", Time: at.Add(time.Minute)}, f)
	polled, _ := markerEvent(trigger.Event{Bucket: "b", Key: "site/.release-complete", ETag: empty, Time: at.Add(2 * time.Minute)}, f)
	if first.ID() != again.ID() {
		t.Errorf("a duplicate delivery is a new artifact: %s, %s", first.ID(), again.ID())
	}
	if first.ID() == second.ID() || second.ID() == polled.ID() {
		t.Errorf("two uploads of the same empty marker share an ID: %s, %s, %s", first.ID(), second.ID(), polled.ID())
	}
}

func TestTargetMustBeConfigured(t *testing.T) {
	d := testDaemon(t)
	d.cur.Store(&state{cfg: &config.Config{Sites: []config.Site{{Name: "www", Root: "/srv/www"}, {Name: "docs", Root: "/srv/docs"}}}})
	s := &daemonService{d: d}
	for _, tc := range []struct {
		root string
		ok   bool
	}{{"/srv/www", true}, {"/srv/docs", true}, {"", true}, {"/etc", false}, {"/srv/www/..", false}} {
		err := s.target(api.Target{Root: tc.root})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, api.ErrNotFound)) {
			t.Errorf("root %q: %v", tc.root, err)
		}
	}
	if _, err := s.Status(context.Background(), api.Target{Root: "/etc"}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("status of /etc: %v", err)
	}
}

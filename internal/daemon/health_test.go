package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/release-agent/internal/config"
)

// syncBuffer is a log sink safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func healthDaemon() (*Daemon, *syncBuffer) {
	buf := &syncBuffer{}
	return &Daemon{log: slog.New(slog.NewJSONHandler(buf, nil))}, buf
}

// fastHealth is the default schedule with a short interval, so that the
// tests take little time; the counts are the defaults.
func fastHealth(urls ...string) *config.Health {
	return &config.Health{URLs: urls, ExpectStatus: 200, Timeout: config.Duration(5 * time.Second),
		Interval: config.Duration(20 * time.Millisecond), Failures: config.DefaultHealthFailures,
		Successes: config.DefaultHealthSuccesses, Grace: config.Duration(config.DefaultHealthGrace)}
}

// flipServer answers 500 to the first fail requests, then 200 "healthy".
func flipServer(t *testing.T, fail int64) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= fail {
			http.Error(w, "warming up", 500)
			return
		}
		io.WriteString(w, "<title>healthy</title>")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A single transient failure followed by a pass does not fail the check.
func TestWatchHealthTransientFailure(t *testing.T) {
	srv, n := flipServer(t, 1)
	d, logs := healthDaemon()
	if err := d.watchHealth(context.Background(), "www", "v2", fastHealth(srv.URL+"/")); err != nil {
		t.Fatalf("one failure then a pass: %v", err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("%d requests, want 2 (one failure, one pass)", got)
	}
	// Each request is logged: URL, status, latency, verdict.
	var pass, fail int
	for _, l := range logs.lines(t) {
		if l["msg"] != "health check request" {
			continue
		}
		if l["url"] != srv.URL+"/" || l["site"] != "www" || l["release"] != "v2" {
			t.Errorf("log line lacks the url/site/release: %v", l)
		}
		if _, ok := l["latency_ms"].(float64); !ok {
			t.Errorf("log line lacks latency_ms: %v", l)
		}
		switch {
		case l["pass"] == true && l["status"] == 200.0:
			pass++
		case l["pass"] == false && l["status"] == 500.0 && l["level"] == "WARN":
			fail++
		default:
			t.Errorf("unexpected log line %v", l)
		}
	}
	if pass != 1 || fail != 1 {
		t.Errorf("logged %d passes and %d failures, want 1 and 1", pass, fail)
	}
}

// Two failures (fewer than Failures) then a pass: healthy; as many
// failures in a row as Failures: not.
func TestWatchHealthConsecutiveFailures(t *testing.T) {
	srv, _ := flipServer(t, 2)
	d, _ := healthDaemon()
	if err := d.watchHealth(context.Background(), "www", "v2", fastHealth(srv.URL+"/")); err != nil {
		t.Fatalf("two failures then a pass: %v", err)
	}
	dead, n := flipServer(t, 1<<40)
	err := d.watchHealth(context.Background(), "www", "v3", fastHealth(dead.URL+"/"))
	if err == nil || !strings.Contains(err.Error(), "3 failed attempts in a row") || !strings.Contains(err.Error(), "status 500") {
		t.Fatalf("dead site: err = %v", err)
	}
	if got := n.Load(); got != 3 {
		t.Errorf("%d requests to a dead site, want 3", got)
	}
	// A refused connection is a failure like any other.
	err = d.watchHealth(context.Background(), "www", "v4", fastHealth("http://127.0.0.1:1/"))
	if err == nil || !strings.Contains(err.Error(), "3 failed attempts in a row") {
		t.Fatalf("nothing listening: err = %v", err)
	}
}

// Successes > 1: a pass between failures resets the count of passes, and
// the release is healthy only after that many passes in a row.
func TestWatchHealthSuccesses(t *testing.T) {
	var n atomic.Int64
	// pass, fail, pass, pass
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 {
			http.Error(w, "blip", 502)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	h := fastHealth(srv.URL + "/")
	h.Successes = 2
	d, _ := healthDaemon()
	if err := d.watchHealth(context.Background(), "www", "v2", h); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 4 {
		t.Errorf("%d requests, want 4 (pass, fail, pass, pass)", got)
	}
}

// A site that hangs never fails Failures times: the grace period ends the
// check, and the error says so.
func TestWatchHealthGrace(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	h := fastHealth(srv.URL + "/")
	h.Grace = config.Duration(300 * time.Millisecond)
	d, _ := healthDaemon()
	err := d.watchHealth(context.Background(), "www", "v2", h)
	if err == nil || !strings.Contains(err.Error(), "not healthy within the grace period of 300ms") {
		t.Fatalf("hanging site: err = %v", err)
	}
}

// Several URLs, each with its own expectations: every one must pass.
func TestWatchHealthPerURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			io.WriteString(w, "<title>Home</title>")
		case "/api/health":
			io.WriteString(w, `{"status":"ok","version":"1.2.3"}`)
		case "/gone":
			http.Error(w, "gone", http.StatusGone)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	h := fastHealth(srv.URL + "/")
	h.ExpectBody = "<title>Home"
	h.Checks = []config.HealthCheck{
		{URL: srv.URL + "/api/health", ExpectStatus: 200, ExpectBodyRegexp: `"version":"\d+\.\d+\.\d+"`},
		{URL: srv.URL + "/gone", ExpectStatus: 410},
	}
	d, logs := healthDaemon()
	if err := d.watchHealth(context.Background(), "www", "v2", h); err != nil {
		t.Fatalf("every expectation met: %v", err)
	}
	urls := map[any]bool{}
	for _, l := range logs.lines(t) {
		if l["msg"] == "health check request" {
			urls[l["url"]] = true
		}
	}
	if len(urls) != 3 {
		t.Errorf("logged requests to %v, want the 3 URLs", urls)
	}
	for name, mod := range map[string]func(h *config.Health){
		"regexp": func(h *config.Health) { h.Checks[0].ExpectBodyRegexp = `"version":"2\.` },
		"status": func(h *config.Health) { h.Checks[1].ExpectStatus = 200 },
		"body":   func(h *config.Health) { h.ExpectBody = "<title>Other" },
	} {
		hh := *h
		hh.Checks = append([]config.HealthCheck(nil), h.Checks...)
		mod(&hh)
		err := d.watchHealth(context.Background(), "www", "v3", &hh)
		if err == nil || !strings.Contains(err.Error(), "failed attempts in a row") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/release-agent/internal/config"
)

// receiver is a real HTTP endpoint that records what it is sent and
// answers with the statuses of its script (then 200).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []map[string]any
	auth   []string
	script []int
	calls  int
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{script: script}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if len(r.script) > 0 {
			st := r.script[0]
			r.script = r.script[1:]
			if st != 200 {
				http.Error(w, "scripted", st)
				return
			}
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("body %q: %v", b, err)
		}
		if ct := req.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		r.got = append(r.got, m)
		r.auth = append(r.auth, req.Header.Get("Authorization"))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) docs() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.got...)
}

// counter records OnSent/OnDrop calls.
type counter struct {
	mu    sync.Mutex
	sent  []string
	drops []string
}

func (c *counter) opts() Options {
	return Options{Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Host: "web1",
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSent: func(ep, ev string) { c.mu.Lock(); c.sent = append(c.sent, ep+" "+ev); c.mu.Unlock() },
		OnDrop: func(ep, ev, why string) { c.mu.Lock(); c.drops = append(c.drops, ep+" "+ev+" "+why); c.mu.Unlock() }}
}

func (c *counter) counts() (sent, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent), len(c.drops)
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a hang, not a timing threshold).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDocument(t *testing.T) {
	r := newReceiver(t)
	var c counter
	n := New([]Endpoint{{Name: "notify[0]", URL: r.URL + "/hook", Token: "s3cret"}}, c.opts())
	defer n.Close(context.Background())
	at := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	n.Notify(Event{Event: Deploy, Site: "www", Release: "v42", Previous: "v41", Time: at, Cause: "inbox site.tar.gz",
		Source: "site.tar.gz", Commit: "0123456789abcdef0123", Message: "Fix the footer\n\nlong text", Meta: map[string]string{"pipeline": "77"}})
	waitFor(t, "the document", func() bool { return len(r.docs()) == 1 })
	d := r.docs()[0]
	want := map[string]any{"schema": 1.0, "event": "deploy", "site": "www", "release": "v42", "previous": "v41",
		"time": "2026-12-04T15:00:00Z", "host": "web1", "cause": "inbox site.tar.gz", "commit": "0123456789abcdef0123",
		"message": "Fix the footer\n\nlong text", "source": "site.tar.gz"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	if m, _ := d["meta"].(map[string]any); m["pipeline"] != "77" {
		t.Errorf("meta = %v", d["meta"])
	}
	if txt := d["text"]; txt != "www on web1: v42 is live (was v41), commit 0123456789ab: Fix the footer ... [site.tar.gz]" {
		t.Errorf("text = %q", txt)
	}
	if r.auth[0] != "Bearer s3cret" {
		t.Errorf("Authorization %q", r.auth[0])
	}
}

func TestTexts(t *testing.T) {
	for _, c := range []struct {
		ev   Event
		want string
	}{
		{Event{Event: Rollback, Site: "www", Host: "h", Release: "v1", Previous: "v2", Cause: CauseHealthCheck},
			"www on h: rolled back from v2 to v1 after a failed health check"},
		{Event{Event: Rollback, Site: "www", Host: "h", Release: "v1", Previous: "v2", Cause: CauseManual},
			"www on h: rolled back from v2 to v1 (manual)"},
		{Event{Event: Rejected, Site: "www", Host: "h", Source: "s3://b/k", Summary: "2 broken links\nmore"},
			"www on h: deploy rejected by validation [s3://b/k]: 2 broken links ..."},
		{Event{Event: Failed, Site: "www", Host: "h", Error: "download: 503"}, "www on h: deploy failed: download: 503"},
		{Event{Event: Activate, Site: "www", Host: "h", Release: "v3", Previous: "v5"}, "www on h: v3 activated (was v5)"},
	} {
		if got := c.ev.text(); got != c.want {
			t.Errorf("text = %q, want %q", got, c.want)
		}
	}
}

func TestFilter(t *testing.T) {
	all, rb := newReceiver(t), newReceiver(t)
	var c counter
	n := New([]Endpoint{{Name: "a", URL: all.URL}, {Name: "b", URL: rb.URL, Events: []string{Rollback, Failed}}}, c.opts())
	for _, k := range Kinds {
		n.Notify(Event{Event: k, Site: "www"})
	}
	n.Close(context.Background())
	var kinds []string
	for _, d := range rb.docs() {
		kinds = append(kinds, d["event"].(string))
	}
	if len(all.docs()) != len(Kinds) || strings.Join(kinds, ",") != "rollback,failed" {
		t.Errorf("all got %d documents, the filtered endpoint %v", len(all.docs()), kinds)
	}
	if sent, dropped := c.counts(); sent != len(Kinds)+2 || dropped != 0 {
		t.Errorf("sent %d, dropped %d", sent, dropped)
	}
}

// A 500 then a 200: the document is delivered once, on the retry.
func TestRetry(t *testing.T) {
	r := newReceiver(t, 500, 503)
	var c counter
	n := New([]Endpoint{{Name: "notify[0]", URL: r.URL}}, c.opts())
	n.Notify(Event{Event: Failed, Site: "www", Error: "boom"})
	n.Close(context.Background())
	if len(r.docs()) != 1 || r.calls != 3 {
		t.Errorf("%d documents in %d calls, want 1 in 3", len(r.docs()), r.calls)
	}
	if sent, dropped := c.counts(); sent != 1 || dropped != 0 {
		t.Errorf("sent %d, dropped %d", sent, dropped)
	}
}

// A 4xx is permanent; a receiver that keeps failing is given up on after
// Attempts; either way the document is dropped and counted.
func TestGiveUp(t *testing.T) {
	bad := newReceiver(t, 404)
	down := newReceiver(t, 500, 500, 500, 500, 500, 500)
	var c counter
	o := c.opts()
	o.Attempts = 3
	n := New([]Endpoint{{Name: "bad", URL: bad.URL}, {Name: "down", URL: down.URL}}, o)
	n.Notify(Event{Event: Deploy, Site: "www"})
	n.Close(context.Background())
	if bad.calls != 1 || down.calls != 3 {
		t.Errorf("calls: 404 endpoint %d (want 1), 500 endpoint %d (want 3)", bad.calls, down.calls)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.drops) != 2 || !strings.Contains(strings.Join(c.drops, "|"), "bad deploy gave up: attempt 1 of 3: not retried: status 404") ||
		!strings.Contains(strings.Join(c.drops, "|"), "down deploy gave up: attempt 3 of 3: status 500") {
		t.Errorf("drops: %q", c.drops)
	}
}

// A receiver that hangs never blocks Notify: the queue fills, the
// overflow is dropped and counted; Close with a deadline abandons the
// rest.
func TestSlowReceiverNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	var inFlight sync.WaitGroup
	inFlight.Add(1)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(inFlight.Done)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	var c counter
	o := c.opts()
	o.QueueSize = 4
	n := New([]Endpoint{{Name: "slow", URL: srv.URL}}, o)
	n.Notify(Event{Event: Deploy, Site: "www", Release: "v1"})
	inFlight.Wait() // the first document is being delivered and hangs
	done := make(chan struct{})
	go func() {
		for i := range 10 {
			n.Notify(Event{Event: Deploy, Site: "www", Release: "v" + string(rune('2'+i))})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Notify blocked on a receiver that hangs")
	}
	if _, dropped := c.counts(); dropped != 10-4 {
		t.Errorf("%d dropped with a queue of 4 and 10 sent while one hangs, want 6", dropped)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.Close(ctx)
	if sent, dropped := c.counts(); sent != 0 || dropped != 11 {
		t.Errorf("after Close: sent %d, dropped %d; want 0 and 11", sent, dropped)
	}
	n.Notify(Event{Event: Deploy}) // after Close: nothing, no panic
}

// An endpoint nobody listens on: Notify returns, the document is given
// up on after its attempts.
func TestReceiverDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var c counter
	n := New([]Endpoint{{Name: "down", URL: "http://" + addr + "/"}}, c.opts())
	n.Notify(Event{Event: Rollback, Site: "www"})
	n.Close(context.Background())
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.drops) != 1 || !strings.Contains(c.drops[0], "attempt 5 of 5") || !strings.Contains(c.drops[0], "connection refused") {
		t.Errorf("drops %q", c.drops)
	}
}

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("  abc\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	c := &config.Config{Path: "/etc/ra.toml", Notify: []config.Notify{
		{URL: "http://a/", TokenFile: tok, Events: []string{"deploy"}},
		{URL: "http://b/"},
	}}
	eps, err := FromConfig(c)
	if err != nil || len(eps) != 2 || eps[0].Token != "abc" || eps[0].Name != "notify[0]" || eps[1].Token != "" || eps[0].Events[0] != "deploy" {
		t.Fatalf("%+v %v", eps, err)
	}
	c.Notify = append(c.Notify, config.Notify{URL: "http://c/", TokenFile: filepath.Join(dir, "missing")}, config.Notify{URL: "http://d/", TokenFile: empty})
	_, err = FromConfig(c)
	if !errors.Is(err, ErrToken) || !strings.Contains(err.Error(), `/etc/ra.toml: key "notify[2].token_file": bearer token file: open `+dir+"/missing") ||
		!strings.Contains(err.Error(), `key "notify[3].token_file": bearer token file: `+empty+" is empty") {
		t.Errorf("err = %v", err)
	}
}

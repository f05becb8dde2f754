package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/release-agent/api"
)

// lockedBuffer is a stdout written by a running verb and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testSite(t *testing.T, title string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "site")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>"+title+"</title>"), 0o644)
	return src
}

// events without a daemon reads the journal file: the last N events as
// text or NDJSON, and with --follow each new one.
func TestEventsDirect(t *testing.T) {
	root := t.TempDir()
	for _, title := range []string{"one", "two"} {
		if code, _, e := run(t, nil, "--root", root, "deploy", testSite(t, title)); code != 0 {
			t.Fatalf("deploy: %d %s", code, e)
		}
	}
	code, out, e := run(t, nil, "--root", root, "events", "--json", "-n", "0")
	if code != 0 {
		t.Fatalf("events --json: %d %s", code, e)
	}
	var evs []api.EventLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev api.EventLine
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if ev.Schema != api.Schema {
			t.Errorf("schema %d in %q", ev.Schema, l)
		}
		evs = append(evs, ev)
	}
	var acts []string
	for _, ev := range evs {
		if ev.Event.Event == "activated" {
			acts = append(acts, ev.Release+"<"+ev.From)
		}
	}
	if strings.Join(acts, " ") != "v1< v2<v1" {
		t.Errorf("activations %q in %s", acts, out)
	}
	code, out, _ = run(t, nil, "--root", root, "events", "-n", "1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 1 || !strings.Contains(lines[0], " activated v2 from v1 by ") {
		t.Errorf("events -n 1: %d %q", code, out)
	}

	// --follow: a new deploy appears; cancelling ends it with status 0.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var o, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--root", root, "events", "--follow", "-n", "1"}, Env{Stdout: &o, Stderr: &errb, Getenv: func(string) string { return "" }})
	}()
	waitOutput(t, &o, " activated v2 from v1 ")
	if code, _, e := run(t, nil, "--root", root, "deploy", testSite(t, "three")); code != 0 {
		t.Fatalf("deploy: %d %s", code, e)
	}
	waitOutput(t, &o, " activated v3 from v2 ")
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("events --follow ended with %d: %s", code, errb.String())
	}
}

func waitOutput(t *testing.T, o *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(o.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output:\n%s", want, o.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventsUsage(t *testing.T) {
	if code, _, e := run(t, nil, "--root", t.TempDir(), "events", "extra"); code != api.ExitUsage {
		t.Errorf("events with an argument: %d %s", code, e)
	}
	if code, out, _ := run(t, nil, "--help"); code != 0 || !strings.Contains(out, "events [--follow]") {
		t.Errorf("help lacks events: %s", out)
	}
}

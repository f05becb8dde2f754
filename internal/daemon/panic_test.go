package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/releases"
)

// panicSource writes one file of the release, then panics: a bug in the
// middle of a deploy.
type panicSource struct{}

func (panicSource) Fetch(ctx context.Context, sink safewrite.Sink) (ingest.Info, error) {
	body := "<!doctype html><title>half</title>"
	if err := sink.File(ctx, "index.html", 0o644, int64(len(body)), "", strings.NewReader(body)); err != nil {
		return ingest.Info{}, err
	}
	var m map[string]int
	m["boom"]++ // assignment to entry in nil map
	return ingest.Info{}, nil
}

// panicDaemon is a daemon of two sites, www and docs, whose deploys of
// panic://... panic inside the pipeline.
func panicDaemon(t *testing.T) (d *Daemon, roots map[string]string) {
	t.Helper()
	dir := t.TempDir()
	roots = map[string]string{"www": filepath.Join(dir, "www"), "docs": filepath.Join(dir, "docs")}
	cfg := loadConfig(t, filepath.Join(dir, "config.toml"), fmt.Sprintf(`
[[site]]
name = "www"
root = %q
[site.validate]
max_file_bytes = "1MiB"
max_total_bytes = "10MiB"
max_growth_percent = 50
[[site]]
name = "docs"
root = %q
`, roots["www"], roots["docs"]))
	d = testDaemon(t)
	st, err := d.build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.local.Sources == nil {
		st.local.Sources = ingest.Openers{}
	}
	st.local.Sources["panic"] = func(context.Context, string, ingest.Options) (ingest.Source, error) {
		return panicSource{}, nil
	}
	d.cur.Store(st)
	return d, roots
}

// siteDir writes a small valid site and returns its directory.
func siteDir(t *testing.T, title string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><title>"+title+"</title><p>"+title), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDeployPanicRecovered: a panic inside a deploy fails that deploy
// only: its id is recorded as failed with the error, its staging tree is
// gone, the lock is free (the next deploy of the same site succeeds), the
// other site deploys too, and the store passes storecheck.
func TestDeployPanicRecovered(t *testing.T) {
	d, roots := panicDaemon(t)
	ctx := context.Background()
	_, err := d.deploy(ctx, "www", "test", api.DeployRequest{Target: api.Target{Site: "www"}, Source: "panic://x", Activate: true})
	if !errors.Is(err, deploy.ErrPanic) || !strings.Contains(err.Error(), "nil map") {
		t.Fatalf("deploy err = %v, want one wrapping deploy.ErrPanic with the panic's value", err)
	}
	s, err := releases.Open(roots["www"])
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Record("v1")
	if err != nil {
		t.Fatalf("the panicked deploy's id has no record: %v", err)
	}
	if rec.Status != releases.StatusFailed || !strings.Contains(rec.Error, "panic") {
		t.Errorf("v1 = %s (%q), want failed with the panic", rec.Status, rec.Error)
	}
	if ents, err := os.ReadDir(filepath.Join(s.StateDir(), "staging")); err == nil && len(ents) > 0 {
		t.Errorf("staging not cleaned: %v", ents)
	}
	for _, site := range []string{"www", "docs"} {
		res, err := d.deploy(ctx, site, "test", api.DeployRequest{Target: api.Target{Site: site}, Source: siteDir(t, site), Activate: true})
		if err != nil {
			t.Fatalf("deploy of %s after the panic: %v", site, err)
		}
		if !res.Activated {
			t.Fatalf("%s: not activated", site)
		}
	}
	for site, root := range roots {
		if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
			t.Errorf("%s: %v", site, err)
		}
	}
}

// TestWorkerPanicRecovered: the work loop survives a panicking deploy and
// a panic outside the pipeline (in a job's open), reports both as failed
// jobs, and runs the next job.
func TestWorkerPanicRecovered(t *testing.T) {
	d, roots := panicDaemon(t)
	w := d.cur.Load().workers["www"]
	w.start()
	defer w.stop()
	errs := make(chan error, 3)
	done := func(_ *api.DeployResult, err error) { errs <- err }
	wait := func() error {
		select {
		case err := <-errs:
			return err
		case <-time.After(time.Minute):
			t.Fatal("job not done within a minute")
			return nil
		}
	}
	w.enqueue(&job{source: "panic://x", what: "panic in the pipeline", queue: "a", done: done})
	if err := wait(); !errors.Is(err, deploy.ErrPanic) {
		t.Fatalf("job 1: %v, want deploy.ErrPanic", err)
	}
	w.enqueue(&job{source: "panic://y", what: "panic in open", queue: "a", done: done,
		open: func() (*os.File, error) { panic("open exploded") }})
	if err := wait(); !errors.Is(err, deploy.ErrPanic) || !strings.Contains(err.Error(), "open exploded") {
		t.Fatalf("job 2: %v, want deploy.ErrPanic", err)
	}
	w.enqueue(&job{source: siteDir(t, "after"), what: "good", queue: "a", done: done})
	if err := wait(); err != nil {
		t.Fatalf("job 3 after two panics: %v", err)
	}
	s, _ := releases.Open(roots["www"])
	if cur, _ := s.Current(); cur != "v2" {
		t.Errorf("current = %q, want v2", cur)
	}
	if err := storecheck.Check(roots["www"], storecheck.Options{AfterRecovery: true}); err != nil {
		t.Error(err)
	}
}

// TestEnqueueQueuesApart: a job replaces only the pending job of its own
// queue, so a trigger's retry never supersedes an inbox archive; jobs run
// in the order their queues first asked.
func TestEnqueueQueuesApart(t *testing.T) {
	d, _ := panicDaemon(t)
	w := d.cur.Load().workers["www"]
	var skipped []string
	add := func(queue, what string) {
		w.enqueue(&job{what: what, queue: queue, skipped: func(by *job) { skipped = append(skipped, what+" by "+by.what) }})
	}
	add("s3", "s3 a")
	add("inbox", "inbox x")
	add("s3", "s3 b")
	var got []string
	for j := w.take(); j != nil; j = w.take() {
		got = append(got, j.what)
	}
	if strings.Join(got, ", ") != "s3 b, inbox x" || strings.Join(skipped, ", ") != "s3 a by s3 b" {
		t.Fatalf("ran %q, skipped %q", got, skipped)
	}
}

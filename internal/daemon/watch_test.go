package daemon

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/watch"
	"github.com/example/release-agent/releases"
)

// memLog is a watch.Source over page requests recorded in memory, as the
// follower's window presents them (watchlog.go).
type memLog struct {
	mu sync.Mutex
	rs []memReq
}

type memReq struct {
	release string
	at      time.Time
	err     bool
}

func (l *memLog) add(release string, at time.Time, n, errs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		l.rs = append(l.rs, memReq{release, at, i < errs})
	}
}

func (l *memLog) Figures(release string, from, to time.Time) watch.Figures {
	l.mu.Lock()
	defer l.mu.Unlock()
	var f watch.Figures
	for _, r := range l.rs {
		if r.release == release && !r.at.Before(from) && r.at.Before(to) {
			f.Pages++
			if r.err {
				f.PageErrors++
			}
		}
	}
	return f
}

// watchedSite is a daemon with one site "www" watched with window w and
// min_requests 50, releases v1 and v2 deployed from real trees (v2 live),
// and the site's log fed from memory.
func watchedSite(t *testing.T, w time.Duration) (*Daemon, *memLog) {
	t.Helper()
	d := testDaemon(t)
	root := t.TempDir()
	cfg := &config.Config{Sites: []config.Site{{Name: "www", Root: root, Keep: 5,
		Watch: &config.Watch{Log: "/var/log/nginx/www.log", Format: "nginx", Window: config.Duration(w),
			MaxErrorRate: 2, MinRequests: 50, Canary: "off", CanaryPercent: 10}}}}
	st, err := d.build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.cur.Store(st)
	for _, id := range []string{"v1", "v2"} {
		src := t.TempDir()
		if err := os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>"+id+"</title><p>"+id), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := st.local.Deploy(context.Background(), api.DeployRequest{Target: api.Target{Site: "www"}, Source: src, Activate: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Release.ID != id {
			t.Fatalf("deployed %s, want %s", res.Release.ID, id)
		}
	}
	l := &memLog{}
	d.watchOf("www").src = l
	return d, l
}

// waitLast polls until the site's watch has a final verdict.
func waitLast(t *testing.T, d *Daemon) *api.WatchStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if cur, last := d.watchStatus("www"); cur == nil && last != nil {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatal("no verdict within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func live(t *testing.T, d *Daemon) string {
	t.Helper()
	st, err := d.cur.Load().local.Status(context.Background(), api.Target{Site: "www"})
	if err != nil || st.Current == nil {
		t.Fatalf("status: %+v, %v", st, err)
	}
	return st.Current.ID
}

// A release whose pages fail is rolled back at once through the store,
// with the verdict's figures in the journal, and counted.
func TestWatchRollsBack(t *testing.T) {
	d, l := watchedSite(t, time.Hour)
	l.add("v1", time.Now().Add(-time.Minute), 100, 1)
	d.startWatch("www", "v2", "v1")
	if cur, _ := d.watchStatus("www"); cur == nil || cur.Release != "v2" || cur.Baseline != "v1" {
		t.Fatalf("watch status = %+v, want v2 against v1", cur)
	}
	l.add("v2", time.Now(), 60, 12)
	last := waitLast(t, d)
	if last.Decision != "rollback" || last.Pages != 60 || last.PageErrors != 12 || last.BaselinePages != 100 {
		t.Fatalf("verdict = %+v", last)
	}
	if id := live(t, d); id != "v1" {
		t.Fatalf("live = %s after the rollback verdict, want v1", id)
	}
	h, err := d.cur.Load().local.History(context.Background(), api.Target{Site: "www"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ev releases.Event
	for _, e := range h.Events {
		if e.Event == "rolled-back" {
			ev = e
		}
	}
	want := "watch of v2: page error rate 20.0% (12/60) vs 1.0% (1/100) v1 before, threshold +2.0 points"
	if ev.Event != "rolled-back" || ev.Detail != want || ev.Who.Via != causeWatch {
		t.Errorf("last journal event = %+v (who %+v), want rolled-back by watch with %q", ev, ev.Who, want)
	}
	m := scrape(t, d)
	for _, line := range []string{`release_agent_watch_verdicts_total{site="www",verdict="rollback"} 1`,
		`release_agent_rollbacks_total{cause="watch",site="www"} 1`,
		`release_agent_watch_page_error_rate{release="v2",site="www"} 20`,
		`release_agent_watch_page_error_rate{release="v1",site="www"} 1`} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// A healthy release passes at the end of its window and stays; a quiet
// one is not judged and stays.
func TestWatchPassAndNotJudged(t *testing.T) {
	for _, tc := range []struct {
		pages, errs int
		want        string
	}{{80, 1, "pass"}, {10, 10, "not-judged"}} {
		d, l := watchedSite(t, 300*time.Millisecond)
		l.add("v1", time.Now().Add(-100*time.Millisecond), 100, 1)
		d.startWatch("www", "v2", "v1")
		l.add("v2", time.Now(), tc.pages, tc.errs)
		last := waitLast(t, d)
		if last.Decision != tc.want {
			t.Errorf("%d/%d: verdict %+v, want %s", tc.errs, tc.pages, last, tc.want)
		}
		if id := live(t, d); id != "v2" {
			t.Errorf("%d/%d: live = %s, want v2", tc.errs, tc.pages, id)
		}
		if line := `release_agent_watch_verdicts_total{site="www",verdict="` + tc.want + `"} 1`; !strings.Contains(scrape(t, d), line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// A release activated while another is watched ends that watch: its
// verdict never comes and it rolls nothing back.
func TestWatchReplaced(t *testing.T) {
	d, l := watchedSite(t, time.Hour)
	d.startWatch("www", "v2", "v1")
	d.stopWatch("www")
	l.add("v2", time.Now(), 60, 60)
	if cur, last := d.watchStatus("www"); cur != nil || last != nil {
		t.Fatalf("after stop: %+v, %+v", cur, last)
	}
	// A watch of a release that is not live rolls nothing back.
	d.watchRollback(context.Background(), "www", "v1", "v2", watch.Verdict{Decision: watch.Rollback, Reason: "test"})
	if id := live(t, d); id != "v2" {
		t.Fatalf("live = %s, want v2", id)
	}
}

// scrape returns the daemon's metrics page.
func scrape(t *testing.T, d *Daemon) string {
	t.Helper()
	srv := httptest.NewServer(d.metrics.handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package watchtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/accesslog"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/test/loadtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// shippedNginx starts nginx configured as the README says: the shipped
// release-agent-http.conf in the http context and the shipped
// nginx-site-watch.conf server block, with only its port, site root, log
// path and snippet directory replaced.
func shippedNginx(t *testing.T, root, logPath string) *loadtest.Nginx {
	t.Helper()
	bin := testenv.Tool(t, "nginx")
	web, err := filepath.Abs("../../packaging/web")
	if err != nil {
		t.Fatal(err)
	}
	site, err := os.ReadFile(filepath.Join(web, "nginx-site-watch.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n, err := loadtest.StartNginxConfig(context.Background(), bin, dir, func(port int) string {
		s := string(site)
		for _, r := range [][2]string{
			{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port)},
			{"listen [::]:80;", ""},
			{"/srv/www/www/", root + "/"},
			{"/var/log/nginx/www.release-agent.log", logPath},
			{"/usr/share/release-agent/web/", web + "/"},
		} {
			if !strings.Contains(s, r[0]) {
				t.Fatalf("nginx-site-watch.conf no longer has %q", r[0])
			}
			s = strings.ReplaceAll(s, r[0], r[1])
		}
		return loadtest.NginxHTTPConfig(dir, "include "+filepath.Join(web, "release-agent-http.conf")+";\n"+s)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// watchedSite starts the agent with one site watching nginx's log
// (window, max_error_rate 2, and the [site.watch] lines of extra) and
// nginx from the shipped snippets serving it.
func watchedSite(t *testing.T, window time.Duration, extra string) (c *client.Client, root, logPath string, ng *loadtest.Nginx) {
	t.Helper()
	dir := t.TempDir()
	root = filepath.Join(dir, "www")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(dir, "access.log")
	c = startAgent(t, dir, fmt.Sprintf("[[site]]\nname = \"www\"\nroot = %q\n[site.watch]\nlog = %q\nwindow = \"%s\"\nmax_error_rate = 2\n%s",
		root, logPath, window, extra))
	return c, root, logPath, shippedNginx(t, root, logPath)
}

// checkClients fails the test for what no client may see: an error on a
// page other than the broken releases' missing /docs/a.html and
// /docs/b.html (and the mix's missing pages), a failed asset, a mixed
// page.
func checkClients(t *testing.T, r *Result) {
	t.Helper()
	s := r.Summarize(time.Time{}, time.Time{})
	for path, n := range s.PageErrors {
		if path, _, _ = strings.Cut(path, "?"); path != "/docs/a.html" && path != "/docs/b.html" {
			t.Errorf("%d errors on %s, which every release has", n, path)
		}
	}
	if s.Mixed != 0 || s.Assets != 0 {
		t.Errorf("%d mixed page loads, %d failed assets", s.Mixed, s.Assets)
	}
	t.Logf("replay: %d page loads, %d of missing pages, page errors by path %v, pages by release %v", s.PageLoads, s.Missing, s.PageErrors, s.Releases)
}

// startAgent runs release-agent with the configuration body (after a
// [daemon] section with the control socket) and returns its client.
func startAgent(t *testing.T, dir, body string) *client.Client {
	t.Helper()
	agent, _ := testenv.Binaries(t)
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[daemon]\ncontrol_socket = %q\n%s", sock, body)), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.SyncBuffer{}
	cmd := exec.Command(agent, "--config", cfg)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("release-agent's log:\n%s", stderr.String())
		}
	})
	c := &client.Client{Socket: sock}
	waitUntil(t, "the control socket", 30*time.Second, func() bool {
		_, err := c.Ping(context.Background())
		return err == nil
	})
	return c
}

// waitUntil polls cond every 50ms until it holds, failing the test after d.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// release writes a build of the test site marked id; broken removes
// docs/a.html and docs/b.html and every link to them, so the release
// passes validation while the traffic still asks for both (bookmarks,
// search engines, other sites' links).
func release(t *testing.T, id string, broken bool) string {
	t.Helper()
	files := loadtest.Site(id)
	if broken {
		delete(files, "docs/a.html")
		delete(files, "docs/b.html")
		for name, b := range files {
			if strings.HasSuffix(name, ".html") {
				files[name] = bytes.ReplaceAll(b, []byte(`<a href="/docs/a.html#top">a</a> <a href="/docs/b.html">b</a> `), nil)
			}
		}
	}
	dir := t.TempDir()
	writeTree(t, dir, files)
	return dir
}

func deploy(t *testing.T, c *client.Client, src string) *api.DeployResult {
	t.Helper()
	res, err := c.Deploy(context.Background(), api.DeployRequest{Source: src, Activate: true, Wait: time.Minute})
	if err != nil {
		t.Fatalf("deploy %s: %v", src, err)
	}
	return res
}

// event returns the last journal event of kind for release, if any.
func event(t *testing.T, c *client.Client, kind, release string) *releases.Event {
	t.Helper()
	h, err := c.History(context.Background(), api.Target{}, 200)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(h.Events) - 1; i >= 0; i-- {
		e := h.Events[i]
		if e.Event == kind && (e.Release == release || (kind == releases.EvRolledBack && e.From == release)) {
			return &e
		}
	}
	return nil
}

func current(t *testing.T, root string) string {
	t.Helper()
	l, _ := os.Readlink(filepath.Join(root, "current"))
	return filepath.Base(l)
}

// theMix is the traffic of the end-to-end tests: the page mix of
// replay_test.go, with 1% of page loads asking for pages no release has
// (the background of old links and scanners every site sees).
func theMix(base string, d time.Duration) Config {
	cfg := mix
	cfg.BaseURL, cfg.Duration = base, d
	cfg.Clients, cfg.MissingShare = 16, 0.01
	return cfg
}

// The watch after every activation (issue 17): nginx configured from the
// shipped snippets, a replay of page loads through it the whole time,
// and the agent following nginx's log.
//   - A release that removes pages the traffic hits is rolled back before
//     its window ends; the time from activation to rollback and the rates
//     are reported.
//   - A healthy release passes and stays.
//   - A release deployed with too little traffic is not judged, and stays.
func TestWatchRollsBackWhatUsersSee(t *testing.T) {
	const window = 10 * time.Second
	c, root, _, ng := watchedSite(t, window, "min_requests = 300\n")
	deploy(t, c, release(t, "v1", false))

	ctx, stop := context.WithCancel(context.Background())
	var traffic *Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		traffic, _ = Replay(ctx, theMix(ng.URL, 10*time.Minute))
	}()
	// A baseline: v1's pages in the agent's window.
	waitUntil(t, "v1's traffic in the agent's window", 60*time.Second, func() bool {
		st, err := c.Status(ctx, api.Target{})
		if err != nil || st.Watch == nil {
			return false
		}
		for _, tr := range st.Watch.Traffic {
			if tr.Release == "v1" && tr.Pages >= 300 {
				return true
			}
		}
		return false
	})

	// A healthy release passes.
	deploy(t, c, release(t, "v2", false))
	waitUntil(t, "the verdict on v2", window+30*time.Second, func() bool { return event(t, c, releases.EvWatched, "v2") != nil })
	if ev := event(t, c, releases.EvWatched, "v2"); !strings.HasPrefix(ev.Detail, "pass: ") || current(t, root) != "v2" {
		t.Fatalf("healthy v2: %q, current %s", ev.Detail, current(t, root))
	}
	t.Logf("v2 (healthy): %s", event(t, c, releases.EvWatched, "v2").Detail)

	// A release that lost two pages of the mix is rolled back.
	deploy(t, c, release(t, "v3", true))
	waitUntil(t, "the rollback of v3", window+30*time.Second, func() bool {
		return event(t, c, releases.EvRolledBack, "v3") != nil || event(t, c, releases.EvWatched, "v3") != nil
	})
	rb := event(t, c, releases.EvRolledBack, "v3")
	if rb == nil {
		t.Fatalf("v3, which lost pages the traffic loads, was not rolled back: %+v", event(t, c, releases.EvWatched, "v3"))
	}
	on := event(t, c, releases.EvActivated, "v3")
	if rb.Release != "v2" || rb.Who.Via != "watch" || !strings.Contains(rb.Detail, "page error rate") || current(t, root) != "v2" {
		t.Fatalf("rollback of v3: %+v; current %s", rb, current(t, root))
	}
	t.Logf("v3 (two pages gone): rolled back %.2fs after its activation (window %s): %s", rb.Time.Sub(on.Time).Seconds(), window, rb.Detail)
	if r, err := c.Status(ctx, api.Target{}); err != nil || r.Current.ID != "v2" {
		t.Fatalf("status after the rollback: %v", err)
	}

	stop()
	<-done
	// What the clients saw: v3's broken pages while it was live, and
	// nothing else but the missing pages and v3's broken pages.
	checkClients(t, traffic)

	// No traffic: not judged, never rolled back by guess.
	deploy(t, c, release(t, "v4", true))
	waitUntil(t, "the verdict on v4", window+30*time.Second, func() bool { return event(t, c, releases.EvWatched, "v4") != nil })
	if ev := event(t, c, releases.EvWatched, "v4"); !strings.HasPrefix(ev.Detail, "not-judged: ") || current(t, root) != "v4" {
		t.Fatalf("v4 without traffic: %q, current %s", ev.Detail, current(t, root))
	}
}

// regularMark is the query the long-lived clients of TestAutomaticCanary
// add to their page requests, so that the cohort share counts new
// visitors only: a few long-lived clients, each wholly in one cohort,
// would skew it by their number of requests.
const regularMark = "?regular"

// logShare reads nginx's log and returns, for the page requests of new
// visitors (not regularMark's) in [from, to), how many each release
// served. Each such request is one visitor (Config.Visits 1).
func logShare(t *testing.T, path string, from, to time.Time) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e, err := accesslog.ParseNginx(sc.Bytes())
		if err != nil {
			t.Fatalf("nginx wrote a line the agent cannot read: %v", err)
		}
		if !e.Time.Before(from) && e.Time.Before(to) && accesslog.IsPage(e.Path) && !bytes.Contains(sc.Bytes(), []byte(regularMark)) {
			n[e.Release]++
		}
	}
	return n
}

// An automatic canary at 10% (issue 17): nginx from the shipped snippets,
// new visitors arriving all the time (each a browser with its own
// cookies) and a few long-lived ones.
//   - The canary's share of new visitors, from nginx's log, is 10% ± 2%.
//   - Every visitor stays in its cohort: all its requests are one release.
//   - A good canary is promoted when its window passes; a bad one (two
//     pages gone) is aborted; no client sees a non-2xx response but the
//     bad canary's missing pages (and the mix's missing ones) or a mixed
//     page.
func TestAutomaticCanary(t *testing.T) {
	const window = 20 * time.Second
	c, root, logPath, ng := watchedSite(t, window, "min_requests = 100\ncanary = \"auto\"\ncanary_percent = 10\n")
	if res := deploy(t, c, release(t, "v1", false)); !res.Activated || res.Canary != nil {
		t.Fatalf("the first release is activated (no stable cohort yet): %+v", res)
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// Visitors: a new browser for every page load; and 8 long-lived
	// ones, whose page requests carry regularMark.
	var visitors, regulars *Result
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		cfg := theMix(ng.URL, 10*time.Minute)
		cfg.Clients, cfg.Visits, cfg.MissingShare, cfg.Think = 24, 1, 0.005, 0
		visitors, _ = Replay(ctx, cfg)
	}()
	go func() {
		defer wg.Done()
		cfg := theMix(ng.URL, 10*time.Minute)
		cfg.Clients, cfg.MissingShare, cfg.Think, cfg.Seed = 8, 0, 100*time.Millisecond, 8
		cfg.Pages = nil
		for _, p := range mix.Pages {
			cfg.Pages = append(cfg.Pages, Page{p.Path + regularMark, p.Weight})
		}
		regulars, _ = Replay(ctx, cfg)
	}()

	// A good canary: promoted after its window.
	res := deploy(t, c, release(t, "v2", false))
	if res.Activated || res.Canary == nil || res.Canary.Percent != 10 || res.Canary.Release != "v2" {
		t.Fatalf("deploy with canary = auto: %+v", res)
	}
	st, _ := c.Status(ctx, api.Target{})
	if st.Canary == nil || st.Canary.Release != "v2" || st.Canary.Percent != 10 {
		t.Fatalf("status during the canary: %+v", st.Canary)
	}
	waitUntil(t, "v2 promoted", window+40*time.Second, func() bool {
		return current(t, root) == "v2" || event(t, c, releases.EvCanaryAborted, "v2") != nil
	})
	promoted := event(t, c, releases.EvActivated, "v2")
	started := event(t, c, releases.EvCanaryStarted, "v2")
	if current(t, root) != "v2" || promoted == nil || !strings.Contains(promoted.Detail, "canary promoted") {
		t.Fatalf("good canary v2 not promoted: %+v / %+v", promoted, event(t, c, releases.EvCanaryAborted, "v2"))
	}
	t.Logf("v2 (good canary): promoted %.1fs after it started: %s", promoted.Time.Sub(started.Time).Seconds(), promoted.Detail)
	checkShare(t, logPath, started.Time, promoted.Time, "v2", "v1")

	// A bad canary: aborted.
	res = deploy(t, c, release(t, "v3", true))
	if res.Canary == nil {
		t.Fatalf("v3 did not start as a canary: %+v", res)
	}
	waitUntil(t, "v3 aborted", window+40*time.Second, func() bool {
		return event(t, c, releases.EvCanaryAborted, "v3") != nil || current(t, root) == "v3"
	})
	aborted := event(t, c, releases.EvCanaryAborted, "v3")
	started = event(t, c, releases.EvCanaryStarted, "v3")
	if aborted == nil || current(t, root) != "v2" || aborted.Who.Via != "watch" {
		t.Fatalf("bad canary v3: aborted %+v, current %s", aborted, current(t, root))
	}
	t.Logf("v3 (bad canary): aborted %.2fs after it started: %s", aborted.Time.Sub(started.Time).Seconds(), aborted.Detail)
	if ci, _ := c.Status(ctx, api.Target{}); ci.Canary != nil {
		t.Fatalf("a canary still runs after the abort: %+v", ci.Canary)
	}
	shareEnd := aborted.Time

	stop()
	wg.Wait()
	// Clients: every page load of a visitor is one release (its assets
	// too: no mixed page), and the only errors are v3's missing pages.
	checkClients(t, visitors)
	checkClients(t, regulars)
	// The regulars kept their cohort while each canary ran.
	for _, phase := range [][2]time.Time{{event(t, c, releases.EvCanaryStarted, "v2").Time, promoted.Time}, {started.Time, shareEnd}} {
		for i, loads := range regulars.Clients {
			seen := map[string]bool{}
			for _, l := range loads {
				if l.At.After(phase[0].Add(time.Second)) && l.At.Before(phase[1].Add(-time.Second)) && l.Release != "" {
					seen[l.Release] = true
				}
			}
			if len(seen) > 1 {
				t.Errorf("regular client %d was served %v during one canary", i, seen)
			}
		}
	}
}

// checkShare asserts that canary served 10% ± 2% of the new visitors'
// page requests of the stable and canary releases in nginx's log over
// [from, to) (see logShare), leaving out
// the first and last second (a switch in flight).
func checkShare(t *testing.T, logPath string, from, to time.Time, canary, stable string) {
	t.Helper()
	n := logShare(t, logPath, from.Add(time.Second), to.Add(-time.Second))
	total := n[canary] + n[stable]
	if total == 0 {
		t.Fatalf("no requests in the log during the canary %s", canary)
	}
	share := 100 * float64(n[canary]) / float64(total)
	t.Logf("canary %s: %.2f%% of %d new visitors in nginx's log (%s %d, %s %d; binomial sd %.2f points)", canary, share, total,
		canary, n[canary], stable, n[stable], 100*math.Sqrt(0.1*0.9/float64(total)))
	if math.Abs(share-10) > 2 {
		t.Errorf("canary %s served %.2f%% of new visitors, want 10%% ± 2%%", canary, share)
	}
}

package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// releasectl builds the binary once per test process (into a directory
// removed by TestMain) and returns its path.
func releasectl(t *testing.T) string {
	t.Helper()
	_, ctl := testenv.Binaries(t)
	return ctl
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// swapCount is the number of swaps of a load run: 100 in CI, 1,000 with
// SOAK=1, 20 with -short.
func swapCount() int {
	switch {
	case os.Getenv("SOAK") != "":
		return 1000
	case testing.Short():
		return 20
	}
	return 100
}

// site is a release root driven by the built releasectl.
type site struct {
	t      *testing.T
	bin    string
	root   string
	dir    string // archives
	flags  []string
	serial int
	swaps  atomic.Uint64 // incremented after every completed switch
}

func newSite(t *testing.T, flags ...string) *site {
	bin := releasectl(t)
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return &site{t: t, bin: bin, root: root, dir: t.TempDir(), flags: flags}
}

func (s *site) ctl(args ...string) (string, error) {
	cmd := exec.Command(s.bin, append([]string{"--root", s.root}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.String(), fmt.Errorf("releasectl %s: %w\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), nil
}

// deploy deploys a fresh variant of the site (marker r<serial>) and
// returns the marker.
func (s *site) deploy() (string, error) {
	s.serial++
	marker := fmt.Sprintf("r%d", s.serial)
	p := filepath.Join(s.dir, marker+".tar.gz")
	if err := WriteArchive(p, Site(marker)); err != nil {
		return "", err
	}
	_, err := s.ctl(append([]string{"deploy", p}, s.flags...)...)
	os.Remove(p)
	if err == nil {
		s.swaps.Add(1)
	}
	return marker, err
}

func (s *site) rollback() error {
	_, err := s.ctl("rollback")
	if err == nil {
		s.swaps.Add(1)
	}
	return err
}

// swap does the i-th switch of an alternating run: odd i deploys a new
// release, even i rolls back to the release before it.
func (s *site) swap(i int) error {
	if i%2 == 0 {
		return s.rollback()
	}
	_, err := s.deploy()
	return err
}

func startNginx(t *testing.T, docroot string) *Nginx {
	bin := testenv.Tool(t, "nginx")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := StartNginx(ctx, bin, t.TempDir(), docroot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("nginx error log:\n%s", n.ErrorLog())
		}
	})
	return n
}

// writeResult stores v as JSON in $BENCH_RESULTS/name.json when the bench
// script asks for it.
func writeResult(t *testing.T, name string, v any) {
	dir := os.Getenv("BENCH_RESULTS")
	if dir == "" {
		return
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadRun is the outcome of one alternating deploy/rollback run under load.
type loadRun struct {
	Mode        string  `json:"mode"`
	Swaps       int     `json:"swaps"`
	SwapSeconds float64 `json:"swap_seconds"` // wall time of the swap loop
	Result      *Result `json:"result"`
}

// runUnderLoad serves a fresh root with nginx, deploys two releases, then
// deploys and rolls back alternately n times while the load client runs.
func runUnderLoad(t *testing.T, mode string, n int, flags ...string) *loadRun {
	s := newSite(t, flags...)
	for range 2 {
		if _, err := s.deploy(); err != nil {
			t.Fatal(err)
		}
	}
	// Asset delays up to the time of one rollback: most delayed page loads
	// cross a swap, and none can span two deploys. Carry-over keeps the
	// hashed assets of the live release and the one live before it (depth
	// 2): a page load that spans more deploys than that may miss assets,
	// by design, and this run does not claim otherwise.
	start := time.Now()
	if err := s.rollback(); err != nil {
		t.Fatal(err)
	}
	maxDelay := min(max(time.Since(start), 20*time.Millisecond), 2*time.Second)
	if _, err := s.deploy(); err != nil {
		t.Fatal(err)
	}
	ng := startNginx(t, filepath.Join(s.root, "current"))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var res *Result
	var runErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, runErr = Run(ctx, Config{
			BaseURL: ng.URL, Pages: SitePages, Workers: 4,
			Duration:     time.Hour, // bounded by the swap loop's end, this is a backstop
			DelayedShare: 0.3, MaxDelay: maxDelay,
			Swaps: s.swaps.Load,
		})
	}()
	loopStart := time.Now()
	var loopErr error
	for i := range n {
		if loopErr = s.swap(i); loopErr != nil {
			loopErr = fmt.Errorf("swap %d of %d: %w", i+1, n, loopErr)
			break
		}
	}
	loop := time.Since(loopStart)
	// Let page loads that started before the last swap finish their
	// delayed assets across it.
	time.AfterFunc(maxDelay, stop)
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if loopErr != nil {
		t.Fatal(loopErr)
	}
	lr := &loadRun{Mode: mode, Swaps: n, SwapSeconds: loop.Seconds(), Result: res}
	t.Logf("%s: %d swaps in %v (max asset delay %v): %v", mode, n, loop.Round(time.Millisecond), maxDelay.Round(time.Millisecond), res)
	for _, e := range res.Examples {
		t.Logf("  %s", e)
	}
	writeResult(t, "loadtest-"+mode, lr)
	t.Cleanup(func() {
		if t.Failed() {
			s.diagnose()
		}
	})
	return lr
}

// diagnose logs, for a failed run, each release's marker and stylesheets
// and the end of the journal.
func (s *site) diagnose() {
	ents, _ := os.ReadDir(filepath.Join(s.root, "releases"))
	for _, e := range ents {
		d := filepath.Join(s.root, "releases", e.Name())
		b, _ := os.ReadFile(filepath.Join(d, "index.html"))
		css, _ := filepath.Glob(filepath.Join(d, "css", "*"))
		for i := range css {
			css[i] = filepath.Base(css[i])
		}
		s.t.Logf("releases/%s: page marker %s, css %v", e.Name(), DefaultMarker.Find(b), css)
	}
	if h, err := s.ctl("history", "-n", "40"); err == nil {
		s.t.Logf("history:\n%s", h)
	}
}

// TestLoadSwapsHashed is the zero-downtime proof: with content-hashed
// asset names carried over across releases, no request fails and no page
// is ever rendered with assets of another release, across n swaps.
func TestLoadSwapsHashed(t *testing.T) {
	lr := runUnderLoad(t, "hashed", swapCount())
	r := lr.Result
	if r.PageLoads == 0 {
		t.Fatal("the load client completed no page load")
	}
	if r.Non2xx != 0 || r.ConnErrors != 0 {
		t.Errorf("%d non-2xx responses (%v), %d connection errors; want 0", r.Non2xx, r.Statuses, r.ConnErrors)
	}
	if r.MixedPages != 0 {
		t.Errorf("%d of %d page loads mixed releases; want 0", r.MixedPages, r.PageLoads)
	}
	if r.Unmarked != 0 {
		t.Errorf("%d pages carried no release marker", r.Unmarked)
	}
	if r.CrossedSwaps == 0 {
		t.Errorf("no page load crossed a swap (%d delayed): the run did not exercise the case it checks", r.Delayed)
	}
}

// TestLoadSwapsNoHash runs the same load with --no-hash. Requests must
// still all succeed (names do not change between releases), but pages may
// get assets of another release: the count is reported, not asserted,
// since it is the point hashing is there to fix.
func TestLoadSwapsNoHash(t *testing.T) {
	lr := runUnderLoad(t, "no-hash", swapCount(), "--no-hash")
	r := lr.Result
	if r.PageLoads == 0 {
		t.Fatal("the load client completed no page load")
	}
	if r.Non2xx != 0 || r.ConnErrors != 0 {
		t.Errorf("%d non-2xx responses (%v), %d connection errors; want 0", r.Non2xx, r.Statuses, r.ConnErrors)
	}
	t.Logf("without hashing, %d of %d page loads (%d crossed a swap) got assets of another release",
		r.MixedPages, r.PageLoads, r.CrossedSwaps)
}

// wrkRun is the outcome of TestLoadWrkThroughput, collected by the bench script.
type wrkRun struct {
	Seconds     int       `json:"seconds"`
	Quiet       WrkResult `json:"quiet"`
	Swapping    WrkResult `json:"swapping"`
	SwapsDuring int       `json:"swaps_during"`
	Ratio       float64   `json:"ratio"` // swapping / quiet requests per second
}

// TestLoadWrkThroughput measures nginx's raw throughput on the site with wrk,
// once with the store quiet and once while releases are deployed and rolled
// back continuously, and reports the ratio. It asserts only that wrk saw
// no error in either run.
func TestLoadWrkThroughput(t *testing.T) {
	bin := testenv.Tool(t, "wrk")
	secs := 5
	if os.Getenv("SOAK") != "" {
		secs = 20
	} else if testing.Short() {
		secs = 2
	}
	s := newSite(t)
	for range 2 {
		if _, err := s.deploy(); err != nil {
			t.Fatal(err)
		}
	}
	ng := startNginx(t, filepath.Join(s.root, "current"))
	url := ng.URL + "/docs/a.html"
	ctx := context.Background()
	quiet, err := RunWrk(ctx, bin, url, 1, 8, time.Duration(secs)*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	swapCtx, stopSwaps := context.WithCancel(ctx)
	var swaps int
	var swapErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; swapCtx.Err() == nil; i++ {
			if swapErr = s.swap(i); swapErr != nil {
				return
			}
			swaps++
		}
	}()
	busy, err := RunWrk(ctx, bin, url, 1, 8, time.Duration(secs)*time.Second)
	stopSwaps()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if swapErr != nil {
		t.Fatal(swapErr)
	}
	for name, r := range map[string]WrkResult{"quiet": quiet, "swapping": busy} {
		if r.Non2xx3xx != 0 || r.SocketErrors != 0 || r.Requests == 0 {
			t.Errorf("wrk %s: %d requests, %d non-2xx/3xx, %d socket errors", name, r.Requests, r.Non2xx3xx, r.SocketErrors)
		}
	}
	if swaps == 0 {
		t.Error("no swap completed during the swapping run")
	}
	res := wrkRun{Seconds: secs, Quiet: quiet, Swapping: busy, SwapsDuring: swaps, Ratio: busy.RequestsSec / quiet.RequestsSec}
	t.Logf("wrk %ds: quiet %.0f req/s, during %d swaps %.0f req/s: ratio %.2f", secs, quiet.RequestsSec, swaps, busy.RequestsSec, res.Ratio)
	writeResult(t, "wrk", res)
}

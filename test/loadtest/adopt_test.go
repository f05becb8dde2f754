package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// adoptPaths are fetched in turn by the adoption load loop: every page of
// the site and assets with and without a release marker.
var adoptPaths = append(append([]string{}, SitePages...), "/css/site.css", "/js/app.js", "/img/bg.svg", "/img/hero.png", "/js/vendor.js")

// fillerFiles per release make an adoption take long enough for many
// requests to overlap it (manifests, hardlinked clone, fsyncs).
const fillerFiles = 1000

// writeRelease writes Site(marker) and fillerFiles small files at dir.
func writeRelease(t *testing.T, dir, marker string) {
	t.Helper()
	files := Site(marker)
	for i := range fillerFiles {
		files[fmt.Sprintf("static/f%04d.txt", i)] = fmt.Appendf(nil, "filler %d\n", i)
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// servingLoad is a loop of 4 workers fetching adoptPaths from nginx until
// stopped, counting requests, non-2xx responses, connection errors and
// responses whose release marker is not want.
type servingLoad struct {
	requests, non2xx, connErrs, wrongRelease atomic.Int64
	mu                                       sync.Mutex
	examples                                 []string
	stop                                     context.CancelFunc
	wg                                       sync.WaitGroup
}

func startServingLoad(base, want string) *servingLoad {
	ctx, stop := context.WithCancel(context.Background())
	l := &servingLoad{stop: stop}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	note := func(format string, a ...any) {
		l.mu.Lock()
		if len(l.examples) < 10 {
			l.examples = append(l.examples, fmt.Sprintf(format, a...))
		}
		l.mu.Unlock()
	}
	for w := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				p := adoptPaths[i%len(adoptPaths)]
				req, _ := http.NewRequestWithContext(ctx, "GET", base+p, nil)
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return
				}
				l.requests.Add(1)
				if err != nil {
					l.connErrs.Add(1)
					note("GET %s: %v", p, err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 || err != nil {
					l.non2xx.Add(1)
					note("GET %s: %s %v", p, resp.Status, err)
					continue
				}
				if m := DefaultMarker.FindSubmatch(body); m != nil && string(m[1]) != want {
					l.wrongRelease.Add(1)
					note("GET %s: release %s, want %s", p, m[1], want)
				}
			}
		}()
	}
	return l
}

// waitRequests polls until the loop has made n more requests than from.
func (l *servingLoad) waitRequests(t *testing.T, from, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.requests.Load() < from+n {
		if time.Now().After(deadline) {
			t.Fatalf("load loop stalled at %d requests", l.requests.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *servingLoad) finish(t *testing.T) {
	t.Helper()
	l.stop()
	l.wg.Wait()
	t.Logf("load: %d requests, %d non-2xx, %d connection errors, %d from another release",
		l.requests.Load(), l.non2xx.Load(), l.connErrs.Load(), l.wrongRelease.Load())
	for _, e := range l.examples {
		t.Logf("  %s", e)
	}
	if l.non2xx.Load() != 0 || l.connErrs.Load() != 0 || l.wrongRelease.Load() != 0 {
		t.Fatal("requests failed or were served by another release during the adoption")
	}
}

// getMarker fetches / through nginx and returns its release marker.
func getMarker(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %s", resp.Status)
	}
	m := DefaultMarker.FindSubmatch(body)
	if m == nil {
		t.Fatalf("GET /: no marker in %q", body)
	}
	return string(m[1])
}

// adoptUnderLoad serves root/current with nginx, runs releasectl adopt
// while a load loop fetches the site, and checks that every request got a
// 2xx answer from the live release, before, during and after the swap.
// want maps each imported release id to its marker; live is the live
// marker.
func adoptUnderLoad(t *testing.T, s *site, live string, want map[string]string) {
	ng := startNginx(t, filepath.Join(s.root, "current"))
	if got := getMarker(t, ng.URL); got != live {
		t.Fatalf("before adoption nginx serves %s, want %s", got, live)
	}
	load := startServingLoad(ng.URL, live)
	load.waitRequests(t, 0, 200)
	before := load.requests.Load()
	out, err := s.ctl("--json", "adopt")
	during := load.requests.Load() - before
	if err != nil {
		load.finish(t)
		t.Fatal(err)
	}
	load.waitRequests(t, load.requests.Load(), 200)
	load.finish(t)
	t.Logf("%d requests completed while releasectl adopt ran", during)
	if during == 0 {
		t.Fatal("no request overlapped the adoption: the test proved nothing")
	}
	var rep struct {
		Live     string `json:"live"`
		Releases []struct {
			ID, Name, Origin string
		} `json:"releases"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Releases) != len(want) {
		t.Fatalf("adopt --json: %v\n%s", err, out)
	}
	if _, err := s.ctl("fsck", "--full"); err != nil {
		t.Fatal(err)
	}
	// Every imported release is reachable by rollback --to, by id and by
	// its original name, and nginx serves it.
	for i, r := range rep.Releases {
		to := r.ID
		if i%2 == 1 {
			to = r.Name
		}
		if cur := getMarker(t, ng.URL); cur == want[r.ID] {
			continue // already live
		}
		if _, err := s.ctl("rollback", "--to", to); err != nil {
			t.Fatal(err)
		}
		if got := getMarker(t, ng.URL); got != want[r.ID] {
			t.Errorf("after rollback --to %s nginx serves %s, want %s", to, got, want[r.ID])
		}
	}
}

// TestAdoptCapistranoUnderLoad is the Done-means check of adoption: a
// Capistrano root (releases/TIMESTAMP/, current -> the middle one, an
// absolute link as Capistrano writes it) adopted while nginx serves it
// under load: zero non-2xx, every response from the live release, then
// every imported release reachable by rollback --to.
func TestAdoptCapistranoUnderLoad(t *testing.T) {
	s := newSite(t)
	want := map[string]string{}
	for i, n := range []string{"20250101000000", "20250102120000", "20250103000000"} {
		writeRelease(t, filepath.Join(s.root, "releases", n), "cap"+n)
		want[fmt.Sprintf("v%d", i+1)] = "cap" + n
	}
	os.MkdirAll(filepath.Join(s.root, "shared"), 0o755)
	if err := os.Symlink(filepath.Join(s.root, "releases", "20250102120000"), filepath.Join(s.root, "current")); err != nil {
		t.Fatal(err)
	}
	adoptUnderLoad(t, s, "cap20250102120000", want)
}

// TestAdoptPlainDirectoryUnderLoad: a plain current/ directory becomes a
// release and current a symlink (RENAME_EXCHANGE) while nginx serves it
// under load, with zero non-2xx.
func TestAdoptPlainDirectoryUnderLoad(t *testing.T) {
	s := newSite(t)
	writeRelease(t, filepath.Join(s.root, "current"), "plain")
	adoptUnderLoad(t, s, "plain", map[string]string{"v1": "plain"})
	if fi, err := os.Lstat(filepath.Join(s.root, "current")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("current is not a symlink after adoption: %v", err)
	}
}

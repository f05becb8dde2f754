package s3

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/manifest"
)

// getCounter is a reverse proxy in front of MinIO that records the object
// GETs it forwards (not listings, not the marker): what the source really
// downloaded, counted outside the code under test. SigV4 signs the Host
// header, which the proxy passes on unchanged.
type getCounter struct {
	mu   sync.Mutex
	gets []string
	srv  *httptest.Server
}

func newGetCounter(t testing.TB, m *testenv.MinIO) *getCounter {
	u, err := url.Parse(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	g := &getCounter{}
	rp := httputil.NewSingleHostReverseProxy(u)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.RawQuery == "" && !strings.HasSuffix(r.URL.Path, "/"+DefaultMarker) {
			g.mu.Lock()
			g.gets = append(g.gets, r.URL.Path)
			g.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// take returns the GETs recorded since the last call, sorted.
func (g *getCounter) take() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := slices.Sorted(slices.Values(g.gets))
	g.gets = nil
	return v
}

// mcMirror uploads dir to s3://bucket/prefix the way people do: `mc
// mirror --overwrite` (changed and new files only), then an empty marker.
func mcMirror(t testing.TB, m *testenv.MinIO, dir, bucket, prefix string) {
	t.Helper()
	mc := testenv.Tool(t, "mc")
	env := mcEnv(t, m)
	for _, args := range [][]string{
		{"mirror", "--overwrite", "--quiet", dir, "t/" + bucket + "/" + prefix},
		{"pipe", "--quiet", "t/" + bucket + "/" + prefix + DefaultMarker},
	} {
		cmd := exec.Command(mc, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader("")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// mcEnv is the environment of an mc command: alias "t" for m.
func mcEnv(t testing.TB, m *testenv.MinIO) []string {
	u, _ := url.Parse(m.URL())
	u.User = url.UserPassword(m.AccessKey, m.SecretKey)
	return append(os.Environ(), "MC_HOST_t="+u.String(), "MC_CONFIG_DIR="+t.TempDir())
}

func writeTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
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

// pull fetches spec with the sum cache in state, into a new Writer linking
// from live (which may be ""), and returns the stage, its manifest and
// the source's stats.
func pull(t testing.TB, cfg Config, spec, state, live string, liveMan *manifest.Manifest) (string, *manifest.Manifest, Stats) {
	t.Helper()
	src, err := Open(context.Background(), cfg, spec, ingest.Options{CacheDir: state})
	if err != nil {
		t.Fatal(err)
	}
	w, dir := newWriter(t, live, liveMan)
	if _, err := src.Fetch(context.Background(), w); err != nil {
		w.Close()
		t.Fatal(err)
	}
	man, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return dir, man, src.Stats()
}

// TestPrefixIncrementalWithoutSums: a prefix uploaded with `mc mirror` and
// an empty marker. The second pull after a one-file change downloads that
// object only (one GET seen by a proxy) and links the rest from the live
// release; a live file changed on disk behind the cache's back is
// downloaded again, not linked; a corrupt cache means a full download.
func TestPrefixIncrementalWithoutSums(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	g := newGetCounter(t, m)
	cfg := testConfig(m)
	cfg.Endpoint = g.srv.URL
	state := t.TempDir()
	src := t.TempDir()
	files := site(200, "v1")
	writeTree(t, src, files)
	mcMirror(t, m, src, "site", "www/")

	// 1. First pull: everything is downloaded.
	live, man, st := pull(t, cfg, "s3://site/www/", state, "", nil)
	checkTree(t, live, files)
	if got := g.take(); len(got) != 200 || st.Downloaded != 200 {
		t.Fatalf("first pull: %d GETs, stats %+v; want 200 downloads", len(got), st)
	}
	if _, err := os.Stat(filepath.Join(state, SumCacheFile)); err != nil {
		t.Fatalf("no sum cache after the first pull: %v", err)
	}

	// 2. One file changed and mirrored again: one GET, 199 links.
	files["dir2/page9.html"] = []byte("<html><body>changed, and longer than before</body></html>")
	writeTree(t, src, map[string][]byte{"dir2/page9.html": files["dir2/page9.html"]})
	mcMirror(t, m, src, "site", "www/")
	live2, man2, st := pull(t, cfg, "s3://site/www/", state, live, man)
	checkTree(t, live2, files)
	if got := g.take(); !slices.Equal(got, []string{"/site/www/dir2/page9.html"}) || st.Downloaded != 1 || st.Linked != 199 {
		t.Fatalf("one changed file: GETs %q, stats %+v; want exactly the changed object", got, st)
	}

	// 3. Nothing changed in S3, but a live file was edited in place (same
	// size): the remembered sha256 no longer matches it, so it is
	// downloaded; the others are still linked.
	p := filepath.Join(live2, "dir3/page10.html")
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	tampered := bytes.ToUpper(files["dir3/page10.html"])
	if err := os.WriteFile(p, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	live3, man3, st := pull(t, cfg, "s3://site/www/", state, live2, man2)
	checkTree(t, live3, files)
	if got := g.take(); !slices.Equal(got, []string{"/site/www/dir3/page10.html"}) || st.Downloaded != 1 || st.Linked != 199 {
		t.Fatalf("tampered live file: GETs %q, stats %+v; want exactly that object downloaded", got, st)
	}

	// 4. A corrupt cache is an empty one: a full download, no error.
	if err := os.WriteFile(filepath.Join(state, SumCacheFile), []byte(`{"version":1,"entries":[{"b":"site","k":`), 0o600); err != nil {
		t.Fatal(err)
	}
	live4, _, st := pull(t, cfg, "s3://site/www/", state, live3, man3)
	checkTree(t, live4, files)
	if got := g.take(); len(got) != 200 || st.Downloaded != 200 {
		t.Fatalf("corrupt cache: %d GETs, stats %+v; want a full download", len(got), st)
	}
	// ... and it is whole again afterwards.
	if c := loadSumCache(state, cfg.Logger); len(c.entries) != 200 {
		t.Fatalf("cache after a full pull has %d entries, want 200", len(c.entries))
	}
}

// A deleted object's entry is dropped; entries of other prefixes are kept.
func TestSumCacheForget(t *testing.T) {
	dir := t.TempDir()
	c := loadSumCache(dir, slog.New(slog.DiscardHandler))
	c.next()
	sha := hexsum([]byte("x"))
	c.add(sumKey{Bucket: "b", Key: "www/a", ETag: "1", Size: 1}, sha)
	c.add(sumKey{Bucket: "b", Key: "www/gone", ETag: "2", Size: 1}, sha)
	c.add(sumKey{Bucket: "b", Key: "docs/a", ETag: "3", Size: 1}, sha)
	c.save()
	c = loadSumCache(dir, c.log)
	c.next()
	if c.lookup(sumKey{Bucket: "b", Key: "www/a", ETag: "1", Size: 1}) != sha {
		t.Fatal("entry not remembered across a save")
	}
	if c.lookup(sumKey{Bucket: "b", Key: "www/a", ETag: "1", Size: 2}) != "" {
		t.Fatal("entry found for another size")
	}
	c.forgetUnder("b", "www/")
	c.save()
	c = loadSumCache(dir, c.log)
	if len(c.entries) != 2 || c.entries[sumKey{Bucket: "b", Key: "docs/a", ETag: "3", Size: 1}] == nil {
		t.Fatalf("after forgetUnder(www/): %v", c.entries)
	}
}

// FuzzLoadSumCache: whatever the file holds, loading it never fails or
// panics, and every entry kept is usable (a sha256, a size, an ETag), and
// survives a save and a load unchanged.
func FuzzLoadSumCache(f *testing.F) {
	sha := strings.Repeat("ab", 32)
	f.Add([]byte(`{"version":1,"gen":3,"entries":[{"b":"site","k":"www/index.html","e":"d41d8cd98f00b204e9800998ecf8427e","n":0,"s":"` + sha + `","g":3}]}`))
	f.Add([]byte(`{"version":1,"entries":[{"b":"site","k":"a","e":"x","n":-1,"s":"` + sha + `"}]}`))
	f.Add([]byte(`{"version":2,"entries":[]}`))
	f.Add([]byte(`{"version":1,"entries":[null]}`))
	f.Add([]byte(`{"version":1,"entries":[{"b":"site","k":`))
	f.Add([]byte{})
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SumCacheFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		c := loadSumCache(dir, log)
		for k, e := range c.entries {
			if k != e.sumKey || !isHexSHA256(e.SHA256) || e.Size < 0 || e.ETag == "" || e.Bucket == "" {
				t.Fatalf("unusable entry kept: %+v", e)
			}
		}
		n := len(c.entries)
		c.save()
		if again := loadSumCache(dir, log); len(again.entries) != n {
			t.Fatalf("%d entries after a save and a load, want %d", len(again.entries), n)
		}
	})
}

package watchtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/test/loadtest"
)

// writeTree writes files under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
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

// mix is the replayed traffic: the home page most, the docs next, the
// blog posts least; 3% of page loads ask for pages no release has.
var mix = Config{
	Clients: 12,
	Pages: []Page{{"/", 5}, {"/docs/", 3}, {"/docs/a.html", 2}, {"/docs/b.html", 2},
		{"/blog/post-1.html", 1}, {"/blog/post-2.html", 1}},
	Missing:      []string{"/old/page.html", "/wp-login.php"},
	MissingShare: 0.03,
	Think:        5 * time.Millisecond,
}

// Replay against nginx serving one release: every page load is that
// release, complete (no failed asset, no mix), every page of the mix is
// loaded, the missing pages are 404 and counted apart, and each client's
// loads are its own.
func TestReplayOneRelease(t *testing.T) {
	bin := testenv.Tool(t, "nginx")
	docroot := t.TempDir()
	writeTree(t, docroot, loadtest.Site("v1"))
	ctx := context.Background()
	n, err := loadtest.StartNginx(ctx, bin, t.TempDir(), docroot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	cfg := mix
	cfg.BaseURL = n.URL
	cfg.Duration = 2 * time.Second
	cfg.Seed = 17
	res, err := Replay(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summarize(time.Time{}, time.Time{})
	t.Logf("%d page loads in %v by %d clients: %+v", s.PageLoads, res.Elapsed.Round(time.Millisecond), len(res.Clients), s)
	if s.PageLoads < 100 {
		t.Fatalf("only %d page loads", s.PageLoads)
	}
	if len(s.PageErrors) != 0 || s.Assets != 0 || s.Mixed != 0 {
		t.Errorf("page errors %v, failed assets %d, mixed %d; want none", s.PageErrors, s.Assets, s.Mixed)
	}
	if s.Missing == 0 || s.Releases["v1"]+s.Missing != s.PageLoads {
		t.Errorf("%d missing + %d v1 loads, of %d", s.Missing, s.Releases["v1"], s.PageLoads)
	}
	paths := map[string]int{}
	for i, c := range res.Clients {
		if len(c) == 0 {
			t.Errorf("client %d loaded nothing", i)
		}
		for _, l := range c {
			paths[l.Path]++
			if l.Missing && l.Status != 404 {
				t.Errorf("missing %s: status %d, want 404", l.Path, l.Status)
			}
		}
	}
	for _, p := range cfg.Pages {
		if paths[p.Path] == 0 {
			t.Errorf("page %s of the mix never loaded (%v)", p.Path, paths)
		}
	}
	if paths["/"] <= paths["/blog/post-1.html"] {
		t.Errorf("weights not followed: / %d loads, /blog/post-1.html %d", paths["/"], paths["/blog/post-1.html"])
	}
}

func TestReplayRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"remote host":  {BaseURL: "http://192.0.2.1", Pages: []Page{{"/", 1}}, Duration: time.Second},
		"no duration":  {BaseURL: "http://127.0.0.1:1", Pages: []Page{{"/", 1}}},
		"no weight":    {BaseURL: "http://127.0.0.1:1", Pages: []Page{{"/", 0}}, Duration: time.Second},
		"missing none": {BaseURL: "http://127.0.0.1:1", Pages: []Page{{"/", 1}}, Duration: time.Second, MissingShare: 0.1},
	} {
		if _, err := Replay(context.Background(), cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

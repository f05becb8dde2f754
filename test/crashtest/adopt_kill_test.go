package crashtest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// capistranoRoot writes a Capistrano root at root: releases/NAME/ for each
// of names with files pages (index.html names the release) and
// current -> the live one.
func capistranoRoot(t *testing.T, root string, names []string, live string, files int) {
	t.Helper()
	for _, n := range names {
		d := filepath.Join(root, "releases", n)
		for i := range files {
			p := filepath.Join(d, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("p%04d.html", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, fmt.Appendf(nil, "<p>%s page %d</p>", n, i), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(d, "index.html"), []byte("release "+n), 0o644)
	}
	if err := os.Symlink(filepath.Join(root, "releases", live), filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
}

// TestCrashKillAdopt kills `releasectl adopt` with SIGKILL at random
// instants across its run, on a Capistrano root and on a plain current/
// directory. After each kill current serves the live release; every other
// command refuses the root and points at adopt; running adopt again
// finishes the adoption, after which fsck --full finds the store clean
// and every release holds its own content.
func TestCrashKillAdopt(t *testing.T) {
	kills := soak(10, 100, 4)
	names := []string{"20250101000000", "20250102000000", "20250103000000"}
	setups := map[string]func(root string){
		"capistrano": func(root string) { capistranoRoot(t, root, names, names[1], 300) },
		"directory": func(root string) {
			capistranoRoot(t, root, names[1:2], names[1], 300)
			// Make current the plain directory itself.
			os.Remove(filepath.Join(root, "current"))
			os.Rename(filepath.Join(root, "releases", names[1]), filepath.Join(root, "current"))
			os.Remove(filepath.Join(root, "releases"))
		},
	}
	for layout, setup := range setups {
		t.Run(layout, func(t *testing.T) {
			// One uninterrupted run gives the wall time to aim kills at.
			root := filepath.Join(t.TempDir(), "root")
			setup(root)
			wall := mustCtl(t, "--root", root, "adopt").wall
			t.Logf("adopt of %s: %v", layout, wall.Round(time.Millisecond))
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
			killed := 0
			for i := range kills {
				root := filepath.Join(t.TempDir(), "root")
				setup(root)
				at := time.Duration(rng.Int64N(int64(wall)))
				k, out, _ := killAt(t, at, "--root", root, "adopt")
				what := fmt.Sprintf("kill %d at %v", i, at)
				if b, err := os.ReadFile(filepath.Join(root, "current", "index.html")); err != nil || string(b) != "release "+names[1] {
					t.Fatalf("%s: current serves %q (%v)\n%s", what, b, err, out)
				}
				if k {
					killed++
					if r := ctl(t, "--root", root, "list"); r.code == 0 {
						// A kill before the plan was written leaves the root as
						// it was, or one after it was removed leaves a store.
						if !strings.Contains(r.stdout, "capistrano:") && !strings.Contains(r.stdout, "directory:") {
							t.Fatalf("%s: list works on a half-adopted root:\n%s", what, r.stdout)
						}
					} else if !strings.Contains(r.stderr, "adopt") {
						t.Fatalf("%s: list refuses without pointing at adopt: %s", what, r.stderr)
					}
					mustCtl(t, "--root", root, "adopt")
				}
				mustCtl(t, "--root", root, "fsck", "--full")
				l := list(t, root)
				want := map[string]string{"v1": names[0], "v2": names[1], "v3": names[2]}
				if layout == "directory" {
					want = map[string]string{"v1": names[1]}
				}
				if len(l.Releases) != len(want) {
					t.Fatalf("%s: %d releases after the rerun, want %d", what, len(l.Releases), len(want))
				}
				for id, n := range want {
					if b, err := os.ReadFile(filepath.Join(root, "releases", id, "index.html")); err != nil || string(b) != "release "+n {
						t.Fatalf("%s: releases/%s holds %q (%v)", what, id, b, err)
					}
				}
				if l.Current != map[string]string{"capistrano": "v2", "directory": "v1"}[layout] {
					t.Fatalf("%s: current is %s", what, l.Current)
				}
			}
			t.Logf("%d of %d runs killed before they finished", killed, kills)
		})
	}
}

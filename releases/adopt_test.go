package releases

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// capistranoRoot lays out a root as Capistrano leaves it: three releases
// named by timestamp, current -> the middle one (a rollback of the other
// tool left the newest one), shared/ and repo/ beside them, and a shared
// link inside each release. It returns the root and the live content.
func capistranoRoot(t *testing.T, absLink bool) (root, live string) {
	t.Helper()
	root = t.TempDir()
	for _, d := range []string{"shared/storage", "repo"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"20250101000000", "20250102120000", "20250103000000"} {
		writeTree(t, filepath.Join(root, "releases", n), map[string]string{
			"index.html":      "<p>release " + n + "</p>",
			"css/site.css":    "body{}", // the same in every release
			"REVISION":        "abc" + n,
			"js/app.js":       "// " + n,
			"docs/index.html": "<a href=../index.html>up</a>",
		})
		if err := os.Symlink("../../shared/storage", filepath.Join(root, "releases", n, "storage")); err != nil {
			t.Fatal(err)
		}
	}
	target := "releases/20250102120000"
	if absLink {
		target = filepath.Join(root, target)
	}
	if err := os.Symlink(target, filepath.Join(root, CurrentName)); err != nil {
		t.Fatal(err)
	}
	return root, "<p>release 20250102120000</p>"
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func served(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, CurrentName, "index.html"))
	if err != nil {
		t.Fatalf("current serves nothing: %v", err)
	}
	return string(b)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkClean fails unless fsck finds nothing wrong with the store at root.
func checkClean(t *testing.T, root string) *Store {
	t.Helper()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := s.Fsck(context.Background(), FsckOptions{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		t.Errorf("fsck: %+v", p)
	}
	return s
}

func TestAdoptCapistrano(t *testing.T) {
	root, live := capistranoRoot(t, false)
	_, err := Open(root)
	var ne *NotAdoptedError
	if !errors.As(err, &ne) || ne.Layout != LayoutCapistrano || ne.Live != "20250102120000" || len(ne.Names) != 3 ||
		!strings.Contains(err.Error(), "releasectl --root "+root+" adopt") {
		t.Fatalf("Open: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, StateDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open created state/ in a foreign root")
	}

	dry, err := Adopt(context.Background(), root, AdoptOptions{DryRun: true, Who: testWho})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Releases) != 3 || dry.Releases[1].ID != "v2" || !dry.Releases[1].Live || dry.Releases[0].Files != 5 {
		t.Fatalf("dry run: %+v", dry)
	}
	if _, err := os.Stat(filepath.Join(root, StateDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("dry run created state/")
	}

	rep, err := Adopt(context.Background(), root, AdoptOptions{Who: testWho})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Live != "v2" || len(rep.Releases) != 3 || len(rep.OutLinks) != 3 || !strings.Contains(rep.OutLinks[0], "storage -> ../../shared/storage") {
		t.Fatalf("report: %+v", rep)
	}
	if got := served(t, root); got != live {
		t.Fatalf("current serves %q, want %q", got, live)
	}
	if l, _ := os.Readlink(filepath.Join(root, CurrentName)); l != "releases/v2" {
		t.Fatalf("current -> %q", l)
	}
	if got := names(t, filepath.Join(root, ReleasesDir)); !slices.Equal(got, []string{"v1", "v2", "v3"}) {
		t.Fatalf("releases/ holds %v", got)
	}
	s := checkClean(t, root)
	for i, n := range []string{"20250101000000", "20250102120000", "20250103000000"} {
		id := FormatID(int64(i + 1))
		r, err := s.Record(id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Origin != "capistrano:"+n || r.Source.Spec != r.Origin || !r.Live() || r.Files != 5 {
			t.Errorf("record %s: %+v", id, r)
		}
		b, _ := os.ReadFile(filepath.Join(s.Dir(id), "index.html"))
		if string(b) != "<p>release "+n+"</p>" {
			t.Errorf("%s holds %q", id, b)
		}
		fi, _ := os.Stat(filepath.Join(s.Dir(id), "index.html"))
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s/index.html is writable: %v", id, fi.Mode())
		}
		if l, err := os.Readlink(filepath.Join(s.Dir(id), "storage")); err != nil || l != "../../shared/storage" {
			t.Errorf("%s/storage: %q %v", id, l, err)
		}
	}
	if r, _ := s.Record("v2"); r.LinkedFiles != 5 {
		t.Errorf("live release cloned with %d hardlinks, want 5", r.LinkedFiles)
	}
	// Files identical in consecutive releases use the disk once.
	if r, _ := s.Record("v3"); r.LinkedFiles != 2 {
		t.Errorf("v3 has %d files hardlinked to v2's, want 2 (css/site.css, docs/index.html)", r.LinkedFiles)
	}
	a, _ := os.Stat(filepath.Join(s.Dir("v1"), "css/site.css"))
	b, _ := os.Stat(filepath.Join(s.Dir("v2"), "css/site.css"))
	c, _ := os.Stat(filepath.Join(s.Dir("v3"), "css/site.css"))
	if !os.SameFile(a, b) || !os.SameFile(b, c) {
		t.Error("css/site.css, identical in every release, is not one inode")
	}
	// The rollback order is the other tool's: v1 was live before v2; v3
	// (rolled back from) is reachable only by name.
	if h, _ := s.LiveHistory(); !slices.Equal(h, []string{"v1", "v2"}) {
		t.Errorf("rollback order %v", h)
	}
	if p, _ := s.Previous(); p != "v1" {
		t.Errorf("previous %q, want v1", p)
	}
	evs, _, _ := s.Journal(0)
	for _, ev := range evs {
		if ev.Event == EvRecovered {
			t.Errorf("journal has %+v", ev)
		}
	}
	lock(t, s)
	if _, _, err := s.Rollback("v3", ActivateOptions{Who: testWho}); err != nil {
		t.Fatal(err)
	}
	if got := served(t, root); got != "<p>release 20250103000000</p>" {
		t.Fatalf("after rollback --to v3: %q", got)
	}

	// Idempotent: nothing left to adopt.
	again, err := Adopt(context.Background(), t.TempDir(), AdoptOptions{Who: testWho})
	if err != nil || len(again.Releases) != 0 {
		t.Fatalf("adopt of an empty root: %+v %v", again, err)
	}
}

func TestAdoptDeployerNumericOrderAbsoluteLink(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, ".dep"), 0o755)
	for _, n := range []string{"1", "2", "10"} {
		writeTree(t, filepath.Join(root, "releases", n), map[string]string{"index.html": "deployer " + n})
	}
	os.Symlink(filepath.Join(root, "releases", "10"), filepath.Join(root, CurrentName))
	rep, err := Adopt(context.Background(), root, AdoptOptions{Who: testWho})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != LayoutDeployer || rep.Live != "v3" || rep.Releases[2].Origin != "deployer:10" {
		t.Fatalf("report %+v", rep)
	}
	if got := served(t, root); got != "deployer 10" {
		t.Fatalf("serves %q", got)
	}
	s := checkClean(t, root)
	if h, _ := s.LiveHistory(); !slices.Equal(h, []string{"v1", "v2", "v3"}) {
		t.Errorf("rollback order %v", h)
	}
}

func TestAdoptPlainDirectory(t *testing.T) {
	root := t.TempDir()
	writeTree(t, filepath.Join(root, CurrentName), map[string]string{"index.html": "plain", "a/b.txt": "b"})
	before, _ := os.Stat(filepath.Join(root, CurrentName, "index.html"))
	rep, err := Adopt(context.Background(), root, AdoptOptions{Who: testWho})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != LayoutDirectory || rep.Live != "v1" || rep.Releases[0].Origin != "directory:current" {
		t.Fatalf("report %+v", rep)
	}
	if l, err := os.Readlink(filepath.Join(root, CurrentName)); err != nil || l != "releases/v1" {
		t.Fatalf("current -> %q %v", l, err)
	}
	after, _ := os.Stat(filepath.Join(root, CurrentName, "index.html"))
	if !os.SameFile(before, after) {
		t.Error("the live file was copied, not hardlinked")
	}
	if got := names(t, root); !slices.Equal(got, []string{CurrentName, ReleasesDir, StateDir}) {
		t.Errorf("root holds %v", got)
	}
	checkClean(t, root)
}

func TestAdoptRefusesSpecialFiles(t *testing.T) {
	root, _ := capistranoRoot(t, false)
	fifo := filepath.Join(root, "releases", "20250101000000", "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	_, err := Adopt(context.Background(), root, AdoptOptions{Who: testWho})
	if err == nil || !strings.Contains(err.Error(), "releases/20250101000000/pipe") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, StateDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused adoption created state/")
	}
}

// TestAdoptKilledAtEveryStep stops Adopt at each of its steps as a kill
// would (the lock dropped without its clean marker) and checks that
// current still serves the same content, that recovery leaves no staged
// record without its tree, that other commands are refused until the
// adoption is finished, and that running Adopt again finishes it with the
// store fsck-clean.
func TestAdoptKilledAtEveryStep(t *testing.T) {
	steps := []string{"plan", "record v1", "placed v1", "record v2", "placed v2", "record v3", "placed v3", "switched", "journaled switch", "done"}
	for _, layout := range []string{LayoutCapistrano, LayoutDirectory} {
		for _, step := range steps {
			if layout == LayoutDirectory && strings.HasSuffix(step, "v2") || strings.HasSuffix(step, "v3") && layout == LayoutDirectory {
				continue
			}
			t.Run(layout+"/"+step, func(t *testing.T) {
				var root, live string
				if layout == LayoutDirectory {
					root, live = t.TempDir(), "plain"
					writeTree(t, filepath.Join(root, CurrentName), map[string]string{"index.html": live, "a/b.txt": "b"})
				} else {
					root, live = capistranoRoot(t, true)
				}
				hit := false
				adoptFailpoint = func(s string) bool { hit = hit || s == step; return s == step }
				_, err := Adopt(context.Background(), root, AdoptOptions{Who: testWho})
				adoptFailpoint = nil
				if !errors.Is(err, errKilled) || !hit {
					t.Fatalf("not killed at %q: %v", step, err)
				}
				if got := served(t, root); got != live {
					t.Fatalf("after the kill current serves %q", got)
				}
				if _, err := Open(root); !errors.Is(err, ErrNotAdopted) {
					t.Fatalf("Open after the kill: %v", err)
				}
				// Recovery (another writer's lock) rolls forward.
				s := &Store{Root: root}
				l, _, err := s.Lock(context.Background(), 0, testWho, "test")
				if err != nil {
					t.Fatal(err)
				}
				ps, err := s.Fsck(context.Background(), FsckOptions{})
				l.Unlock()
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range ps {
					if p.Kind != "current" {
						t.Errorf("after recovery: %+v", p)
					}
				}
				if got := served(t, root); got != live {
					t.Fatalf("after recovery current serves %q", got)
				}
				rep, err := Adopt(context.Background(), root, AdoptOptions{Who: testWho})
				if err != nil {
					t.Fatal(err)
				}
				if got := served(t, root); got != live {
					t.Fatalf("after the rerun current serves %q", got)
				}
				st := checkClean(t, root)
				recs, _ := st.Records()
				want := 3
				if layout == LayoutDirectory {
					want = 1
				}
				if len(recs) != want || rep.Live == "" {
					t.Fatalf("%d records, report %+v", len(recs), rep)
				}
				if _, err := os.Lstat(filepath.Join(root, adoptOldName)); !errors.Is(err, fs.ErrNotExist) {
					t.Error("old current/ left behind")
				}
			})
		}
	}
}

func TestNameOrder(t *testing.T) {
	in := []string{"10", "2", "1", "b", "a", "20250102120000", "020"}
	slices.SortFunc(in, nameOrder)
	if want := []string{"1", "2", "10", "020", "20250102120000", "a", "b"}; !slices.Equal(in, want) {
		t.Fatalf("%v", in)
	}
}

package hashassets

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/example/release-agent/internal/fsatomic"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o444); err != nil {
			t.Fatal(err)
		}
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHashDirSharedLinks stages a release whose files are read-only hard
// links of an older release (as the store does) and checks that hashing
// it never changes a byte of the older release.
func TestHashDirSharedLinks(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		t.Run(fmt.Sprintf("InPlace=%v", inPlace), func(t *testing.T) { testHashDirSharedLinks(t, inPlace) })
	}
}

func testHashDirSharedLinks(t *testing.T, inPlace bool) {
	root := t.TempDir()
	old := filepath.Join(root, "v1")
	stg := filepath.Join(root, "v2")
	files := map[string]string{
		"index.html":   `<link rel=stylesheet href="css/s.css"><img src="img/a.png">`,
		"css/s.css":    `body{background:url(../img/a.png)}`,
		"img/a.png":    "PNG",
		"favicon.ico":  "ICO",
		"exec/tool.js": "x",
	}
	writeTree(t, old, files)
	if err := os.Chmod(filepath.Join(old, "exec/tool.js"), 0o555); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(stg, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(old, name), filepath.Join(stg, name)); err != nil {
			t.Fatal(err)
		}
	}
	man, err := HashDir(context.Background(), stg, Options{InPlace: inPlace})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if got := read(t, filepath.Join(old, name)); got != content {
			t.Errorf("old release %s changed: %q", name, got)
		}
	}
	css := man.Lookup("css/s.css")
	png := man.Lookup("img/a.png")
	if css == nil || png == nil {
		t.Fatalf("manifest: %+v", man.Assets)
	}
	if got := read(t, filepath.Join(stg, "index.html")); got != `<link rel=stylesheet href="css/`+filepath.Base(css.Hashed)+`"><img src="img/`+filepath.Base(png.Hashed)+`">` {
		t.Errorf("index.html = %q", got)
	}
	// The original name is a hard link to the hashed file.
	if inode(t, filepath.Join(stg, "css/s.css")) != inode(t, filepath.Join(stg, css.Hashed)) {
		t.Errorf("css/s.css is not a link of %s", css.Hashed)
	}
	// An unchanged asset shares the inode with the old release too.
	if inode(t, filepath.Join(stg, png.Hashed)) != inode(t, filepath.Join(old, "img/a.png")) {
		t.Errorf("%s should be a link of the old img/a.png", png.Hashed)
	}
	// Modes: read-only stays read-only, executable stays executable.
	for p, want := range map[string]os.FileMode{"index.html": 0o444, css.Hashed: 0o444, man.Lookup("exec/tool.js").Hashed: 0o555} {
		fi, err := os.Stat(filepath.Join(stg, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	// No temporary files are left behind.
	filepath.WalkDir(stg, func(p string, d os.DirEntry, err error) error {
		if fsatomic.IsTemp(filepath.Base(p)) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(stg, "favicon.ico")); err != nil {
		t.Error(err)
	}
}

func TestHashDirSymlinkEscape(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	writeTree(t, outside, map[string]string{"x.css": "OUT"})
	stg := filepath.Join(root, "stg")
	writeTree(t, stg, map[string]string{"index.html": `<link rel=stylesheet href="lnk/x.css">`})
	if err := os.Symlink("../outside", filepath.Join(stg, "lnk")); err != nil {
		t.Fatal(err)
	}
	man, err := HashDir(context.Background(), stg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Assets) != 0 {
		t.Errorf("hashed through a symlink: %+v", man.Assets)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("wrote outside the tree: %v", entries)
	}
}

// TestHashDirInPlace checks Options.InPlace: a page with one link is
// rewritten in place (same inode), a page that is a hard link of a file
// elsewhere is not (the other file keeps its bytes), and ChangedFiles
// gives the digests of the bytes on disk.
func TestHashDirInPlace(t *testing.T) {
	root := t.TempDir()
	stg := filepath.Join(root, "stg")
	writeTree(t, stg, map[string]string{
		"index.html":  `<link rel=stylesheet href="s.css"><p>own page`,
		"shared.html": `<img src="a.png">`,
		"s.css":       `p{background:url(a.png)}`,
		"a.png":       "PNG",
		"plain.html":  `<p>no assets`,
	})
	other := filepath.Join(root, "elsewhere.html")
	if err := os.Link(filepath.Join(stg, "shared.html"), other); err != nil {
		t.Fatal(err)
	}
	before := inode(t, filepath.Join(stg, "index.html"))
	man, err := HashDir(context.Background(), stg, Options{InPlace: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := inode(t, filepath.Join(stg, "index.html")); got != before {
		t.Errorf("index.html was replaced (inode %d -> %d), not rewritten in place", before, got)
	}
	if got := read(t, other); got != `<img src="a.png">` {
		t.Errorf("a hard link outside the tree changed: %q", got)
	}
	if !strings.Contains(read(t, filepath.Join(stg, "shared.html")), man.Lookup("a.png").Hashed) {
		t.Errorf("shared.html not rewritten: %q", read(t, filepath.Join(stg, "shared.html")))
	}
	fi, err := os.Stat(filepath.Join(stg, "index.html"))
	if err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("index.html mode after rewrite: %v %v", fi.Mode(), err)
	}
	got := map[string]bool{}
	for _, f := range man.ChangedFiles() {
		got[f.Path] = true
		b, err := os.ReadFile(filepath.Join(stg, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(b) != f.SHA256 || int64(len(b)) != f.Size {
			t.Errorf("%s: ChangedFiles digest/size does not match the file", f.Path)
		}
	}
	for _, p := range []string{"index.html", "shared.html", "s.css", man.Lookup("s.css").Hashed, man.Lookup("a.png").Hashed} {
		if !got[p] {
			t.Errorf("%s missing from ChangedFiles %v", p, man.Changed())
		}
	}
	if got["plain.html"] || got["a.png"] {
		t.Errorf("unchanged files listed as changed: %v", man.Changed())
	}
}

// TestHashDirReuse checks Options.Reuse: a page whose final bytes the
// callee provides is not written by Hash, and is still listed as changed.
func TestHashDirReuse(t *testing.T) {
	stg := t.TempDir()
	writeTree(t, stg, map[string]string{"index.html": `<img src="a.png">`, "b.html": `<img src="./a.png">`, "a.png": "PNG"})
	var asked []string
	man, err := HashDir(context.Background(), stg, Options{Reuse: func(name string, sum [32]byte, size int64, mode fs.FileMode) (bool, error) {
		asked = append(asked, name) // one page only: no race
		if name != "index.html" {
			return false, nil
		}
		// Put the final bytes there as a caller linking an equal file would.
		want := `<img src="` + "a.7961208376.png" + `">`
		if sha256.Sum256([]byte(want)) != sum || size != int64(len(want)) || mode != 0o444 {
			return false, fmt.Errorf("unexpected digest for %s", name)
		}
		return true, nil
	}, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if h := man.Lookup("a.png").Hashed; h != "a.7961208376.png" {
		t.Fatalf("hashed name %s; the test's expected page needs updating", h)
	}
	if got := read(t, filepath.Join(stg, "index.html")); got != `<img src="a.png">` {
		t.Errorf("index.html was written although Reuse provided it: %q", got)
	}
	if got := read(t, filepath.Join(stg, "b.html")); got != `<img src="./a.7961208376.png">` {
		t.Errorf("b.html = %q", got)
	}
	if len(asked) != 2 {
		t.Errorf("Reuse asked for %v, want both pages", asked)
	}
	if !slices.Contains(man.Changed(), "index.html") {
		t.Errorf("a reused page is not listed as changed: %v", man.Changed())
	}
}

// TestInPlaceRewrite: Rewrite writes the concatenation of any number of
// pieces (more than IOV_MAX too), truncates a shorter result, sets the
// mode, and refuses a file with other links.
func TestInPlaceRewrite(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"a.html": strings.Repeat("x", 5000), "b.html": "bb"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "b.html"), filepath.Join(dir, "b2.html")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	w := NewRootWriter(root)
	defer w.Close()
	for _, n := range []int{3000, 1, 7000} {
		f, err := w.OpenInPlace("a.html")
		if err != nil {
			t.Fatal(err)
		}
		old, err := f.ReadAll(nil)
		if err != nil || int64(len(old)) != f.Size() {
			t.Fatalf("ReadAll: %d bytes of %d, %v", len(old), f.Size(), err)
		}
		var segs [][]byte
		var want []byte
		for i := range n {
			s := []byte{byte('a' + i%26)}
			segs = append(segs, s)
			want = append(want, s...)
		}
		if ok, err := f.Rewrite(segs, 0o440); !ok || err != nil {
			t.Fatalf("Rewrite(%d pieces): %v %v", n, ok, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(dir, "a.html")); got != string(want) {
			t.Fatalf("after Rewrite of %d pieces: %d bytes, want %d", n, len(got), len(want))
		}
		if fi, err := os.Stat(filepath.Join(dir, "a.html")); err != nil || fi.Mode().Perm() != 0o440 {
			t.Fatalf("mode %v, %v", fi.Mode(), err)
		}
	}
	f, err := w.OpenInPlace("b.html")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Rewrite([][]byte{[]byte("changed")}, 0o444); ok || err != nil {
		t.Errorf("Rewrite of a file with two links: %v %v", ok, err)
	}
	f.Close()
	if got := read(t, filepath.Join(dir, "b2.html")); got != "bb" {
		t.Errorf("the other link changed: %q", got)
	}
}

// TestHashDirFiles: with Options.Files the result is the one of a walk.
func TestHashDirFiles(t *testing.T) {
	tree := map[string]string{
		"index.html": `<link rel=stylesheet href="css/s.css"><img src="a.png">`,
		"css/s.css":  `p{background:url(../a.png)}`,
		"a.png":      "PNG",
		"b/c.html":   `<img src="../a.png">`,
	}
	walked, listed := filepath.Join(t.TempDir(), "w"), filepath.Join(t.TempDir(), "l")
	writeTree(t, walked, tree)
	writeTree(t, listed, tree)
	a, err := HashDir(context.Background(), walked, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashDir(context.Background(), listed, Options{Files: []string{"index.html", "css/s.css", "a.png", "b/c.html"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Assets, b.Assets) || !reflect.DeepEqual(a.Changed(), b.Changed()) {
		t.Errorf("walked %+v %v\nlisted %+v %v", a.Assets, a.Changed(), b.Assets, b.Changed())
	}
	if _, err := HashDir(context.Background(), listed, Options{Files: []string{"../x.html"}}); err == nil || !strings.Contains(err.Error(), `"../x.html"`) {
		t.Errorf("invalid path in Files: %v", err)
	}
}

// TestHashDirInPlaceNonRoot runs HashDir with InPlace as a user without
// CAP_DAC_OVERRIDE (as root, it re-runs itself under setpriv as nobody):
// a read-only page with one link is made writable, rewritten and given
// its mode back; a read-only page with a second link elsewhere is
// neither chmodded nor written through (the other link keeps its bytes
// and mode), but replaced by a new file.
func TestHashDirInPlaceNonRoot(t *testing.T) {
	dir := os.Getenv("HASHASSETS_NONROOT_DIR")
	if dir == "" && os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("setpriv (util-linux) required in CI: %v", err)
			}
			t.Skipf("setpriv (util-linux) not installed: %v", err)
		}
		// Not t.TempDir(): its parent is private to root.
		dir, err = os.MkdirTemp("", "hashassets-nonroot-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", os.Args[0], "-test.run=^TestHashDirInPlaceNonRoot$", "-test.v")
		cmd.Env = append(os.Environ(), "HASHASSETS_NONROOT_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestHashDirInPlaceNonRoot") {
			t.Fatalf("as nobody: %v\n%s", err, out)
		}
		return
	}
	if dir == "" {
		dir = t.TempDir()
	}
	stg := filepath.Join(dir, "stg")
	writeTree(t, stg, map[string]string{"one.html": `<img src="a.png">`, "shared.html": `<img src="a.png">`, "a.png": "PNG"})
	other := filepath.Join(dir, "elsewhere.html")
	if err := os.Link(filepath.Join(stg, "shared.html"), other); err != nil {
		t.Fatal(err)
	}
	one := inode(t, filepath.Join(stg, "one.html"))
	man, err := HashDir(context.Background(), stg, Options{InPlace: true})
	if err != nil {
		t.Fatal(err)
	}
	want := `<img src="` + man.Lookup("a.png").Hashed + `">`
	for _, p := range []string{"one.html", "shared.html"} {
		if got := read(t, filepath.Join(stg, p)); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
		if fi, err := os.Stat(filepath.Join(stg, p)); err != nil || fi.Mode().Perm() != 0o444 {
			t.Errorf("%s: mode %v (%v), want 0444", p, fi.Mode(), err)
		}
	}
	if inode(t, filepath.Join(stg, "one.html")) != one {
		t.Error("one.html was replaced, not rewritten in place")
	}
	if got := read(t, other); got != `<img src="a.png">` {
		t.Errorf("the other link was written through: %q", got)
	}
	if fi, err := os.Stat(other); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("the other link's mode: %v (%v), want 0444", fi.Mode(), err)
	}
}

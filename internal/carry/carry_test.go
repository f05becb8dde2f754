package carry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o444); err != nil {
			t.Fatal(err)
		}
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestLink(t *testing.T) {
	root := t.TempDir()
	v1, v2 := filepath.Join(root, "v1"), filepath.Join(root, "v2")
	write(t, v1, map[string]string{"js/chunk.0123456789.js": "one", "top.abcdefabcd.css": "x", "js/gone.1111111111.js": "g"})
	write(t, v2, map[string]string{"js/other.2222222222.js": "two", "top.abcdefabcd.css": "x"})
	os.Remove(filepath.Join(v1, "js/gone.1111111111.js")) // pruned by hand
	if err := os.Symlink("/etc/passwd", filepath.Join(v1, "link.3333333333.js")); err != nil {
		t.Fatal(err)
	}
	paths := []string{"js/chunk.0123456789.js", "top.abcdefabcd.css", "js/gone.1111111111.js", "link.3333333333.js", "new/dir/a.4444444444.png"}
	write(t, v1, map[string]string{"new/dir/a.4444444444.png": "png"})

	linked, err := Link(context.Background(), v2, v1, paths)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"js/chunk.0123456789.js", "new/dir/a.4444444444.png"}
	if len(linked) != len(want) || linked[0] != want[0] || linked[1] != want[1] {
		t.Fatalf("linked %v, want %v", linked, want)
	}
	for _, p := range want {
		if inode(t, filepath.Join(v1, p)) != inode(t, filepath.Join(v2, p)) {
			t.Errorf("%s: not a hard link of the old release's file", p)
		}
	}
	if _, err := os.Lstat(filepath.Join(v2, "link.3333333333.js")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a symlink was carried: %v", err)
	}
	// Again: nothing to do.
	if linked, err := Link(context.Background(), v2, v1, paths); err != nil || len(linked) != 0 {
		t.Errorf("second run linked %v, %v", linked, err)
	}
	// A path that leaves the tree is refused, naming it.
	_, err = Link(context.Background(), v2, v1, []string{"../x.js"})
	if !errors.Is(err, ErrUnsafePath) {
		t.Errorf("unsafe path: err = %v", err)
	}
	// A cancelled context stops before linking.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Link(ctx, v2, v1, []string{"js/x.5555555555.js"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// TestLinkRefusesSymlinkedTrees: carry-over never writes into, or reads
// from, a tree that is a symlink (a decoy planted as releases/vN).
func TestLinkRefusesSymlinkedTrees(t *testing.T) {
	dir := t.TempDir()
	src, decoy := filepath.Join(dir, "src"), filepath.Join(dir, "decoy")
	write(t, src, map[string]string{"js/app.1234.js": "x"})
	write(t, decoy, map[string]string{"keep": "k"})
	link := filepath.Join(dir, "v1")
	if err := os.Symlink(decoy, link); err != nil {
		t.Fatal(err)
	}
	if l, err := Link(context.Background(), link, src, []string{"js/app.1234.js"}); !errors.Is(err, ErrSymlinkTree) || len(l) != 0 {
		t.Errorf("Link into a symlinked tree: %v %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(decoy, "js")); err == nil {
		t.Error("carry-over wrote into the decoy")
	}
	dst := filepath.Join(dir, "dst")
	os.Mkdir(dst, 0o755)
	if l, err := Link(context.Background(), dst, link, []string{"keep"}); !errors.Is(err, ErrSymlinkTree) || len(l) != 0 {
		t.Errorf("Link from a symlinked tree: %v %v", l, err)
	}
}

package hashassets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
	man, err := HashDir(context.Background(), stg, Options{})
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
		if strings.Contains(p, ".hashassets-") {
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

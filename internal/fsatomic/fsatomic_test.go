package fsatomic

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// noTemps fails if dir holds a temporary name.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if IsTemp(e.Name()) {
			t.Errorf("temporary name left in %s: %s", dir, e.Name())
		}
	}
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	old := syscall.Umask(0o077) // the mode must not depend on it
	defer syscall.Umask(old)
	for i, perm := range []fs.FileMode{0o644, 0o444, 0o640} {
		want := fmt.Sprintf("version %d\n", i)
		if err := WriteFile(p, []byte(want), perm); err != nil {
			t.Fatal(err)
		}
		if got := readString(t, p); got != want {
			t.Fatalf("content %q, want %q", got, want)
		}
		fi, _ := os.Stat(p)
		if fi.Mode() != perm {
			t.Errorf("mode %v, want %v", fi.Mode(), perm)
		}
	}
	noTemps(t, dir)
}

func TestWriteFileNoSyncRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := (Replacer{NoSync: true}).WriteFile("f", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if readString(t, "f") != "x" {
		t.Fatal("not written")
	}
	noTemps(t, dir)
}

// TestFailedWriteKeepsOld: whatever fails, the old version stays and no
// temporary file is left.
func TestFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("abandoned pending file", func(t *testing.T) {
		pf, err := Create(p, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		pf.Write([]byte("half of the new"))
		if err := pf.Cleanup(); err != nil {
			t.Fatal(err)
		}
		if err := pf.Cleanup(); err != nil {
			t.Fatal("second Cleanup:", err)
		}
		if err := pf.CloseAtomicallyReplace(); err == nil {
			t.Fatal("CloseAtomicallyReplace after Cleanup succeeded")
		}
		if readString(t, p) != "old" {
			t.Fatal("old content lost")
		}
		noTemps(t, dir)
	})

	t.Run("rename fails", func(t *testing.T) {
		// A non-empty directory cannot be replaced by a file.
		d := filepath.Join(dir, "d")
		os.MkdirAll(filepath.Join(d, "x"), 0o755)
		if err := WriteFile(d, []byte("new"), 0o644); err == nil {
			t.Fatal("replacing a directory succeeded")
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Fatalf("directory changed: %v %v", fi, err)
		}
		if err := Symlink("elsewhere", d); err == nil {
			t.Fatal("replacing a directory by a symlink succeeded")
		}
		if err := Link(p, d); err == nil {
			t.Fatal("replacing a directory by a link succeeded")
		}
		noTemps(t, dir)
	})

	t.Run("missing directory", func(t *testing.T) {
		if err := WriteFile(filepath.Join(dir, "none", "f"), nil, 0o644); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("disk full", func(t *testing.T) {
		small := filepath.Join(t.TempDir(), "small")
		os.Mkdir(small, 0o755)
		if err := unix.Mount("tmpfs", small, "tmpfs", 0, "size=64k"); err != nil {
			testenv.Missing(t, fmt.Sprintf("mount a tmpfs (needs root): %v", err))
		}
		defer unix.Unmount(small, unix.MNT_DETACH)
		p := filepath.Join(small, "f")
		if err := WriteFile(p, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := WriteFile(p, bytes.Repeat([]byte("x"), 1<<20), 0o644)
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v, want ENOSPC naming %s", err, p)
		}
		if readString(t, p) != "old" {
			t.Fatal("old content lost")
		}
		noTemps(t, small)
	})
}

func TestCleanupAfterReplaceIsNoop(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	pf, err := Create(p, 0o444)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Cleanup()
	fmt.Fprint(pf, "streamed")
	if err := pf.CloseAtomicallyReplace(); err != nil {
		t.Fatal(err)
	}
	if err := pf.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if readString(t, p) != "streamed" {
		t.Fatal("content lost")
	}
	noTemps(t, dir)
}

func TestSymlinkCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "current")
	os.WriteFile(p, []byte("a file"), 0o644) // replaced too: the check is package symlink's
	for _, target := range []string{"releases/v1", "releases/v2"} {
		if err := Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(p); err != nil || got != target {
			t.Fatalf("link %q %v, want %q", got, err, target)
		}
	}
	noTemps(t, dir)
}

func TestLinkReplaces(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("a"), 0o444)
	os.WriteFile(b, []byte("b"), 0o444)
	for range 2 { // the second time b already is a link of a
		if err := Link(a, b); err != nil {
			t.Fatal(err)
		}
		fa, _ := os.Stat(a)
		fb, _ := os.Stat(b)
		if !os.SameFile(fa, fb) {
			t.Fatal("b is not a link of a")
		}
		noTemps(t, dir)
	}
}

// TestRootConfines checks the Replacer with a Root: names are relative to
// it, and a symlink inside cannot lead a replacement outside.
func TestRootConfines(t *testing.T) {
	top := t.TempDir()
	tree, outside := filepath.Join(top, "tree"), filepath.Join(top, "outside")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.Mkdir(outside, 0o755)
	os.Symlink("../../outside", filepath.Join(tree, "sub", "esc"))
	root, err := os.OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, r := range []Replacer{{Root: root}, {Root: root, NoSync: true}} {
		if err := r.WriteFile("sub/f", []byte("in"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := r.Link("sub/f", "g"); err != nil {
			t.Fatal(err)
		}
		if err := r.Symlink("sub/f", "l"); err != nil {
			t.Fatal(err)
		}
		pf, err := r.Create("sub/big", 0o444)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(pf, "streamed")
		if err := pf.CloseAtomicallyReplace(); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteFile("sub/esc/f", []byte("out"), 0o444); err == nil {
			t.Error("wrote through a symlink leading outside the root")
		}
		if err := r.Link("sub/f", "sub/esc/g"); err == nil {
			t.Error("linked through a symlink leading outside the root")
		}
	}
	for p, want := range map[string]string{"sub/f": "in", "g": "in", "l": "in", "sub/big": "streamed"} {
		if got := readString(t, filepath.Join(tree, p)); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written outside the root: %v", ents)
	}
	noTemps(t, tree)
	noTemps(t, filepath.Join(tree, "sub"))
}

// tempRE is the documented form of a temporary name.
var tempRE = regexp.MustCompile(`(?s)^\..*\.tmp-[0-9a-f]{16}$`)

func TestTempNames(t *testing.T) {
	long := strings.Repeat("x", 300)
	longUTF8 := strings.Repeat("é", 150) // 300 bytes, 2 per character
	for _, name := range []string{"current", "next-id", "v42.json", ".hidden", "a.tmp-0123456789abcdef", long, longUTF8, "\xff"} {
		tmp := TempName(name)
		if !IsTemp(tmp) || !tempRE.MatchString(tmp) {
			t.Errorf("TempName(%.20q) = %q, not recognised", name, tmp)
		}
		if len(tmp) > 255 {
			t.Errorf("TempName(%.20q) is %d bytes", name, len(tmp))
		}
		if name == longUTF8 && !strings.HasPrefix(tmp, "."+longUTF8[:232]+".tmp-") {
			t.Errorf("TempName cut a character: %q", tmp)
		}
		if TempName(name) == tmp {
			t.Errorf("TempName(%.20q) twice the same", name)
		}
	}
	for _, name := range []string{
		"current", ".tmp-link-current.1f2e", ".tmp-next-id-123456", ".hashassets-0123456789abcdef.tmp",
		".stage-tmp-0123456789abcdef", "x.tmp-0123456789abcdef", ".x.tmp-0123456789ABCDEF",
		".x.tmp-0123456789abcde", ".x.tmp-0123456789abcdef0", ".x.tmp-0123456789abcdeg", ".x.tmp_0123456789abcdef",
		"." + long + ".tmp-0123456789abcdef", "", ".",
	} {
		if IsTemp(name) {
			t.Errorf("IsTemp(%.30q) = true", name)
		}
	}
}

// FuzzIsTemp compares IsTemp with the documented form.
func FuzzIsTemp(f *testing.F) {
	for _, s := range []string{"..tmp-0123456789abcdef", ".a.tmp-0123456789abcdef", ".tmp-0123456789abcdef", ".a.tmp-", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := tempRE.MatchString(s) && len(s) <= 255
		if got := IsTemp(s); got != want {
			t.Fatalf("IsTemp(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	keep := []string{"current", "v1.json", ".tmp-link-current.abc", ".hidden"}
	for _, n := range keep {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	var temps []string
	for _, n := range []string{"current", "v1.json"} {
		tmp := TempName(n)
		temps = append(temps, tmp)
		os.WriteFile(filepath.Join(dir, tmp), nil, 0o644)
	}
	tl := TempName("current")
	os.Symlink("releases/v1", filepath.Join(dir, tl))
	temps = append(temps, tl)
	removed, err := RemoveTemps(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != len(temps) {
		t.Errorf("removed %q, want %q", removed, temps)
	}
	noTemps(t, dir)
	for _, n := range keep {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
	if removed, err := RemoveTemps(filepath.Join(dir, "missing")); err != nil || removed != nil {
		t.Errorf("missing dir: %q %v", removed, err)
	}
}

// TestConcurrentWriters replaces one name from several goroutines while
// others read it: every read and the final content are one writer's
// complete version (run with -race).
func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	const writers, rounds, size = 8, 40, 64 << 10
	if err := WriteFile(p, bytes.Repeat([]byte{'A'}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(b []byte) error {
		if len(b) != size || bytes.Count(b, b[:1]) != size {
			return fmt.Errorf("mixed or partial content: %d bytes, first %q", len(b), b[:min(len(b), 1)])
		}
		return nil
	}
	var stop atomic.Bool
	var readErr atomic.Value
	var rg sync.WaitGroup
	rg.Go(func() {
		for !stop.Load() {
			b, err := os.ReadFile(p)
			if err == nil {
				err = check(b)
			}
			if err != nil {
				readErr.Store(err)
				return
			}
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		data := bytes.Repeat([]byte{byte('a' + w)}, size)
		wg.Go(func() {
			for range rounds {
				if err := WriteFile(p, data, 0o644); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err, _ := readErr.Load().(error); err != nil {
		t.Fatal("reader:", err)
	}
	b, _ := os.ReadFile(p)
	if err := check(b); err != nil || b[0] < 'a' || b[0] >= 'a'+writers {
		t.Fatalf("final content: %v (%q)", err, b[:1])
	}
	noTemps(t, dir)
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	// procfs cannot fsync a directory: EINVAL, tolerated.
	if err := SyncDir("/proc/self"); err != nil {
		t.Errorf("SyncDir(/proc/self) = %v, want EINVAL tolerated", err)
	}
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, nil, 0o644)
	for _, p := range []string{f, filepath.Join(f, "missing")} {
		if err := SyncDir(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("SyncDir(%s) = %v, want an error naming it", p, err)
		}
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false}, {syscall.EINVAL, false}, {syscall.ENOTSUP, false},
		{&fs.PathError{Op: "sync", Path: "d", Err: syscall.EINVAL}, false},
		{syscall.EIO, true}, {&fs.PathError{Op: "sync", Path: "d", Err: syscall.EIO}, true},
	} {
		if got := tolerate(tc.err) != nil; got != tc.want {
			t.Errorf("tolerate(%v) != nil is %v", tc.err, got)
		}
	}
}

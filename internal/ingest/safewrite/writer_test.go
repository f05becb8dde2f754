package safewrite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/manifest"
)

func newWriter(t *testing.T, opts Options) (*Writer, string) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "stage")
		if err := os.Mkdir(opts.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return w, opts.Dir
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func put(t *testing.T, w *Writer, name string, mode fs.FileMode, data []byte) {
	t.Helper()
	if err := w.File(context.Background(), name, mode, int64(len(data)), "", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func TestWriterHappyPath(t *testing.T) {
	w, dir := newWriter(t, Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), (3*SmallFile)/16+7)
	if err := w.Dir("./", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := w.Dir("./docs/", 0o700); err != nil {
		t.Fatal(err)
	}
	put(t, w, "./docs/index.html", 0o644, []byte("<h1>hi</h1>"))
	put(t, w, "bin/run.sh", 0o4775, []byte("#!/bin/sh\n"))
	put(t, w, "big.bin", 0o600, big)
	if err := w.File(context.Background(), "unknown-size", 0o644, -1, sum([]byte("x")), strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Symlink("docs/latest", "."); err != nil {
		t.Fatal(err)
	}
	if err := w.Symlink("docs/up", "../bin/run.sh"); err != nil {
		t.Fatal(err)
	}
	if err := w.Hardlink("docs/copy.html", "docs/index.html"); err != nil {
		t.Fatal(err)
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := []manifest.Entry{
		{Path: "big.bin", Size: int64(len(big)), SHA256: sum(big), Mode: 0o444},
		{Path: "bin/run.sh", Size: 10, SHA256: sum([]byte("#!/bin/sh\n")), Mode: 0o555},
		{Path: "docs/copy.html", Size: 11, SHA256: sum([]byte("<h1>hi</h1>")), Mode: 0o444},
		{Path: "docs/index.html", Size: 11, SHA256: sum([]byte("<h1>hi</h1>")), Mode: 0o444},
		{Path: "docs/latest", Link: ".", Mode: 0o777},
		{Path: "docs/up", Link: "../bin/run.sh", Mode: 0o777},
		{Path: "unknown-size", Size: 1, SHA256: sum([]byte("x")), Mode: 0o444},
	}
	if fmt.Sprint(m.Entries) != fmt.Sprint(want) {
		t.Fatalf("manifest:\n got %v\nwant %v", m.Entries, want)
	}
	// The tree on disk agrees with the manifest and has the stored modes.
	got, err := manifest.FromFS(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Entries) != fmt.Sprint(want) {
		t.Fatalf("disk:\n got %v\nwant %v", got.Entries, want)
	}
	for p, mode := range map[string]fs.FileMode{"bin/run.sh": 0o555, "big.bin": 0o444, "docs": fs.ModeDir | 0o755, ".": fs.ModeDir | 0o755} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
	}
	a, _ := os.Stat(filepath.Join(dir, "docs/copy.html"))
	b, _ := os.Stat(filepath.Join(dir, "docs/index.html"))
	if !os.SameFile(a, b) {
		t.Error("hardlink entry is not the same file as its target")
	}
	if names, _ := os.ReadDir(dir); len(names) != 4 {
		t.Errorf("staging dir has %d entries, want 4 (temporary dir not removed?)", len(names))
	}
	if s := w.Stats(); s.Files != 5 || s.Bytes != int64(len(big))+10+11+11+1 || s.LinkedFiles != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestWriterRefusals(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("a", 300)
	tests := []struct {
		name string
		op   func(w *Writer) error
		want error
	}{
		{"absolute", func(w *Writer) error { return w.File(ctx, "/etc/x", 0o644, 1, "", strings.NewReader("x")) }, ErrUnsafePath},
		{"dotdot", func(w *Writer) error { return w.File(ctx, "a/../../x", 0o644, 1, "", strings.NewReader("x")) }, ErrUnsafePath},
		{"dotdot dir", func(w *Writer) error { return w.Dir("..", 0o755) }, ErrUnsafePath},
		{"NUL", func(w *Writer) error { return w.File(ctx, "a\x00b", 0o644, 1, "", strings.NewReader("x")) }, ErrUnsafePath},
		{"invalid UTF-8", func(w *Writer) error { return w.File(ctx, "a\xffb", 0o644, 1, "", strings.NewReader("x")) }, ErrUnsafePath},
		{"too long", func(w *Writer) error { return w.File(ctx, long, 0o644, 1, "", strings.NewReader("x")) }, ErrLimit},
		{"root as file", func(w *Writer) error { return w.File(ctx, "./", 0o644, 1, "", strings.NewReader("x")) }, ErrUnsafePath},
		{"symlink absolute", func(w *Writer) error { return w.Symlink("l", "/tmp") }, ErrEscapes},
		{"symlink up", func(w *Writer) error { return w.Symlink("a/l", "../../etc") }, ErrEscapes},
		{"symlink dotdot after symlink", func(w *Writer) error {
			if err := w.Symlink("s", "."); err != nil {
				return err
			}
			return w.Symlink("x", "s/..")
		}, ErrEscapes},
		{"symlink target too long", func(w *Writer) error { return w.Symlink("l", long) }, ErrLimit},
		{"file below symlink", func(w *Writer) error {
			if err := w.Symlink("l", "d"); err != nil {
				return err
			}
			return w.File(ctx, "l/x", 0o644, 1, "", strings.NewReader("x"))
		}, ErrEscapes},
		{"file below file", func(w *Writer) error {
			if err := w.File(ctx, "f", 0o644, 1, "", strings.NewReader("x")); err != nil {
				return err
			}
			return w.Dir("f/d", 0o755)
		}, ErrDuplicate},
		{"duplicate file", func(w *Writer) error {
			if err := w.File(ctx, "f", 0o644, 1, "", strings.NewReader("x")); err != nil {
				return err
			}
			return w.File(ctx, "./f", 0o644, 1, "", strings.NewReader("y"))
		}, ErrDuplicate},
		{"dir over file", func(w *Writer) error {
			if err := w.File(ctx, "f", 0o644, 1, "", strings.NewReader("x")); err != nil {
				return err
			}
			return w.Dir("f/", 0o755)
		}, ErrDuplicate},
		{"file over dir", func(w *Writer) error {
			if err := w.Dir("d", 0o755); err != nil {
				return err
			}
			return w.File(ctx, "d", 0o644, 1, "", strings.NewReader("x"))
		}, ErrDuplicate},
		{"dir twice", func(w *Writer) error {
			if err := w.Dir("d", 0o755); err != nil {
				return err
			}
			return w.Dir("d/", 0o755)
		}, ErrDuplicate},
		{"hardlink to nothing", func(w *Writer) error { return w.Hardlink("h", "missing") }, ErrEscapes},
		{"hardlink outside", func(w *Writer) error { return w.Hardlink("h", "../etc/passwd") }, ErrEscapes},
		{"hardlink to dir", func(w *Writer) error {
			if err := w.Dir("d", 0o755); err != nil {
				return err
			}
			return w.Hardlink("h", "d")
		}, ErrEscapes},
		{"hardlink to symlink", func(w *Writer) error {
			if err := w.Symlink("s", "x"); err != nil {
				return err
			}
			return w.Hardlink("h", "s")
		}, ErrEscapes},
		{"size too small", func(w *Writer) error { return w.File(ctx, "f", 0o644, 5, "", strings.NewReader("abc")) }, ErrSizeMismatch},
		{"size too large", func(w *Writer) error { return w.File(ctx, "f", 0o644, 2, "", strings.NewReader("abc")) }, ErrSizeMismatch},
		{"checksum", func(w *Writer) error { return w.File(ctx, "f", 0o644, 3, sum([]byte("abd")), strings.NewReader("abc")) }, ErrChecksum},
		{"declared size over limit", func(w *Writer) error {
			return w.File(ctx, "f", 0o644, 10<<30, "", neverRead{t})
		}, ErrLimit},
		{"count", func(w *Writer) error {
			for i := range 10 {
				if err := w.Dir(fmt.Sprint("d", i), 0o755); err != nil {
					return err
				}
			}
			return nil
		}, ErrLimit},
		{"reserved temporary name", func(w *Writer) error {
			return w.File(ctx, "d/"+fsatomic.TempName("x"), 0o644, 1, "", strings.NewReader("x"))
		}, ErrUnsafePath},
		{"reserved temporary name of a directory", func(w *Writer) error {
			return w.File(ctx, fsatomic.TempName("d")+"/x", 0o644, 1, "", strings.NewReader("x"))
		}, ErrUnsafePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "stage")
			os.Mkdir(dir, 0o755)
			w, _ := newWriter(t, Options{Dir: dir, Limits: Limits{MaxPathLen: 200, MaxFiles: 5, MaxBytes: 1 << 20}})
			err := tc.op(w)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Entry == "" || !strings.Contains(err.Error(), "entry ") {
				t.Fatalf("err %v is not an *EntryError naming the entry", err)
			}
			if _, err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if names, _ := os.ReadDir(parent); len(names) != 1 {
				t.Fatalf("parent dir changed: %v", names)
			}
		})
	}
}

type neverRead struct{ t *testing.T }

func (n neverRead) Read([]byte) (int, error) {
	n.t.Error("File read the content of an entry whose declared size is over the limit")
	return 0, io.EOF
}

// zeros is an endless stream of zero bytes that counts what was read.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

func TestWriterStreamingLimit(t *testing.T) {
	const limit = 3<<20 + 5
	w, dir := newWriter(t, Options{Limits: Limits{MaxBytes: limit}})
	put(t, w, "first", 0o644, make([]byte, 1<<20))
	z := &zeros{}
	err := w.File(context.Background(), "bomb", 0o644, -1, "", z)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want ErrLimit", err)
	}
	if z.n > limit+SmallFile {
		t.Errorf("read %d bytes of an endless stream with a limit of %d", z.n, limit)
	}
	// Nothing of the bomb is left; a retry with small content works.
	put(t, w, "bomb", 0o644, []byte("ok"))
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if fsatomic.IsTemp(d.Name()) {
			t.Errorf("temporary file left: %s", p)
		}
		if d.Type().IsRegular() {
			fi, _ := d.Info()
			total += fi.Size()
		}
		return nil
	})
	if total != 1<<20+2 {
		t.Errorf("staging dir holds %d bytes, want %d", total, 1<<20+2)
	}
}

// stageTree stages files into a fresh dir and returns it with the manifest.
func stageTree(t *testing.T, opts Options, files map[string]string) (*Writer, string, *manifest.Manifest) {
	t.Helper()
	w, dir := newWriter(t, opts)
	for name, content := range files {
		put(t, w, name, 0o644, []byte(content))
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return w, dir, m
}

func TestWriterDedup(t *testing.T) {
	big := strings.Repeat("large file ", SmallFile/5)
	_, live, lm := stageTree(t, Options{}, map[string]string{
		"same.html": "same", "sub/big.js": big, "changed.css": "v1", "moved.txt": "moved",
	})
	w, dir, m := stageTree(t, Options{LiveDir: live, Live: lm}, map[string]string{
		"same.html": "same", "sub/big.js": big, "changed.css": "v2", "new/place.txt": "moved",
	})
	for staged, liveName := range map[string]string{"same.html": "same.html", "sub/big.js": "sub/big.js", "new/place.txt": "moved.txt"} {
		a, err := os.Stat(filepath.Join(dir, staged))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.Stat(filepath.Join(live, liveName))
		if !os.SameFile(a, b) {
			t.Errorf("%s is not a hardlink of live %s", staged, liveName)
		}
	}
	a, _ := os.Stat(filepath.Join(dir, "changed.css"))
	b, _ := os.Stat(filepath.Join(live, "changed.css"))
	if os.SameFile(a, b) {
		t.Error("changed file was linked")
	}
	if e := m.Lookup("sub/big.js"); e == nil || e.SHA256 != sum([]byte(big)) || e.Size != int64(len(big)) {
		t.Errorf("manifest entry of a linked file: %+v", e)
	}
	s := w.Stats()
	if s.Files != 4 || s.LinkedFiles != 3 || s.LinkedBytes != int64(len(big))+4+5 {
		t.Errorf("stats %+v", s)
	}
	if names, _ := os.ReadDir(dir); len(names) != 4 {
		t.Errorf("staging root: %v", names)
	}
}

func TestWriterDedupModeMustMatch(t *testing.T) {
	_, live, lm := stageTree(t, Options{}, map[string]string{"run": "#!"})
	w, dir := newWriter(t, Options{LiveDir: live, Live: lm})
	put(t, w, "run", 0o755, []byte("#!"))
	w.Close()
	a, _ := os.Stat(filepath.Join(dir, "run"))
	b, _ := os.Stat(filepath.Join(live, "run"))
	if os.SameFile(a, b) || a.Mode() != 0o555 {
		t.Errorf("executable linked to a non-executable live file (mode %v)", a.Mode())
	}
}

func TestWriterExisting(t *testing.T) {
	_, live, lm := stageTree(t, Options{}, map[string]string{"a/b.txt": "hello"})
	w, dir := newWriter(t, Options{LiveDir: live, Live: lm})
	ok, err := w.Existing("x/y.txt", 0o600, sum([]byte("hello")))
	if err != nil || !ok {
		t.Fatalf("Existing = %v, %v", ok, err)
	}
	ok, err = w.Existing("z.txt", 0o600, sum([]byte("other")))
	if err != nil || ok {
		t.Fatalf("Existing of an unknown hash = %v, %v", ok, err)
	}
	// Not reserved: the caller may now write it.
	put(t, w, "z.txt", 0o600, []byte("other"))
	if _, err := w.Existing("../x", 0o600, sum([]byte("hello"))); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("Existing(../x) = %v", err)
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(filepath.Join(dir, "x/y.txt"))
	b, _ := os.Stat(filepath.Join(live, "a/b.txt"))
	if !os.SameFile(a, b) {
		t.Error("Existing did not hardlink the live file")
	}
	if e := m.Lookup("x/y.txt"); e == nil || e.Size != 5 || e.Mode != 0o444 {
		t.Errorf("manifest entry %+v", e)
	}
}

func TestWriterLiveFileChanged(t *testing.T) {
	_, live, lm := stageTree(t, Options{}, map[string]string{"a": "hello"})
	// Someone replaced the live file behind the manifest's back.
	os.Chmod(filepath.Join(live, "a"), 0o644)
	os.WriteFile(filepath.Join(live, "a"), []byte("HELLO"), 0o644)
	w, dir := newWriter(t, Options{LiveDir: live, Live: lm})
	put(t, w, "a", 0o644, []byte("hello"))
	w.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "hello" {
		t.Fatalf("staged content %q", b)
	}
}

func TestWriterConcurrent(t *testing.T) {
	_, live, lm := stageTree(t, Options{}, map[string]string{"shared.bin": strings.Repeat("s", SmallFile+3)})
	w, dir := newWriter(t, Options{LiveDir: live, Live: lm})
	var wg sync.WaitGroup
	var (
		mu   sync.Mutex
		errs []error
	)
	report := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	stop := make(chan struct{})
	go func() { // a progress reader
		for {
			select {
			case <-stop:
				return
			default:
				if s := w.Stats(); s.LinkedFiles > s.Files {
					report(fmt.Errorf("inconsistent stats %+v", s))
				}
				runtime.Gosched()
			}
		}
	}()
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				name := fmt.Sprintf("g%d/sub%d/f%d", g, i%3, i)
				var data []byte
				switch i % 10 {
				case 0:
					data = bytes.Repeat([]byte{byte(i)}, SmallFile+100)
				case 1:
					data = []byte(strings.Repeat("s", SmallFile+3))
				default:
					data = []byte(name)
				}
				if err := w.File(context.Background(), name, 0o644, int64(len(data)), sum(data), bytes.NewReader(data)); err != nil {
					report(err)
				}
				// Writing the same name again must be refused.
				if err := w.File(context.Background(), name, 0o644, -1, "", strings.NewReader("x")); !errors.Is(err, ErrDuplicate) {
					report(fmt.Errorf("second write of %s: %v, want ErrDuplicate", name, err))
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	for _, err := range errs {
		t.Error(err)
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != 8*40 {
		t.Fatalf("%d entries, want %d", len(m.Entries), 8*40)
	}
	got, err := manifest.FromFS(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Entries) != fmt.Sprint(m.Entries) {
		t.Error("manifest does not match the tree on disk")
	}
	if s := w.Stats(); s.LinkedFiles != 8*4 {
		t.Errorf("linked %d files, want %d", s.LinkedFiles, 8*4)
	}
}

func TestNewRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := New(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("New on a non-empty dir: %v", err)
	}
	if _, err := New(Options{Dir: filepath.Join(dir, "missing")}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("New on a missing dir: %v", err)
	}
}

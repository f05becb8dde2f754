package safewrite

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// smallFS mounts a tmpfs of size bytes for the test (root only).
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		testenv.Missing(t, "permission to mount a tmpfs (run as root): "+err.Error())
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func TestWriterDiskFull(t *testing.T) {
	fsDir := smallFS(t, "2m")
	dir := filepath.Join(fsDir, "stage")
	os.Mkdir(dir, 0o755)
	w, _ := newWriter(t, Options{Dir: dir})
	put(t, w, "small.html", 0o644, []byte("fits"))
	for _, size := range []int{SmallFile / 2 * 5, 3 * SmallFile} { // the buffered and the streamed path
		big := bytes.Repeat([]byte("x"), size)
		// The first file fits: the second one (of the same size) cannot.
		err1 := w.File(context.Background(), "big1.bin", 0o644, int64(len(big)), "", bytes.NewReader(big))
		err2 := w.File(context.Background(), "big2.bin", 0o644, int64(len(big)), "", bytes.NewReader(big))
		err := errors.Join(err1, err2)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("size %d: err = %v, want ENOSPC", size, err)
		}
		var ee *EntryError
		if !errors.As(err, &ee) || !strings.HasPrefix(ee.Entry, "big") {
			t.Fatalf("err %v does not name the entry", err)
		}
		// The failed file left nothing behind and the name can be retried.
		for _, name := range []string{"big1.bin", "big2.bin"} {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				os.Remove(filepath.Join(dir, name))
				w.release(name)
			}
		}
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != 1 {
		t.Fatalf("manifest %v", m.Entries)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		t.Fatalf("staging dir after ENOSPC: %v", names)
	}
}

func TestWriterLiveOnOtherFileSystem(t *testing.T) {
	_, live, lm := stageTree(t, Options{}, map[string]string{"a.txt": "same"})
	fsDir := smallFS(t, "1m")
	dir := filepath.Join(fsDir, "stage")
	os.Mkdir(dir, 0o755)
	w, _ := newWriter(t, Options{Dir: dir, LiveDir: live, Live: lm})
	put(t, w, "a.txt", 0o644, []byte("same")) // cannot link (EXDEV): written
	ok, err := w.Existing("b.txt", 0o644, sum([]byte("same")))
	if err != nil || ok {
		t.Fatalf("Existing across file systems = %v, %v; want false, nil", ok, err)
	}
	put(t, w, "b.txt", 0o644, []byte("same"))
	w.Close()
	if b, err := os.ReadFile(filepath.Join(dir, "a.txt")); err != nil || string(b) != "same" {
		t.Fatalf("a.txt: %q, %v", b, err)
	}
	if s := w.Stats(); s.LinkedFiles != 0 || s.Files != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// stuck is a reader that returns (0, nil) forever.
type stuck struct{}

func (stuck) Read([]byte) (int, error) { return 0, nil }

func TestWriterNoProgress(t *testing.T) {
	w, _ := newWriter(t, Options{})
	defer w.Close()
	if err := w.File(context.Background(), "f", 0o644, -1, "", stuck{}); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.File(ctx, "g", 0o644, -1, "", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

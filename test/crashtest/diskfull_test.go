package crashtest

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/internal/testutil/testenv"
)

// mountTmpfs mounts a tmpfs of size bytes at a new directory and unmounts
// it at the end of the test. Mounting needs root (CAP_SYS_ADMIN): without
// it the test is skipped, or fails when CI is set.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		testenv.Missing(t, fmt.Sprintf("mount -t tmpfs -o size=%d at %s (needs root): %v", size, dir, err))
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// randomArchive writes a tar.gz of files of incompressible data, named
// blob/fNNN.bin, totalling about size bytes, plus an index.html.
func randomArchive(t *testing.T, size int64, files int) (string, []string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blobs.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := gzip.NewWriterLevel(f, gzip.NoCompression)
	tw := tar.NewWriter(gz)
	idx := []byte("<!doctype html><title>big</title><p>big release</p>")
	tw.WriteHeader(&tar.Header{Name: "index.html", Mode: 0o644, Size: int64(len(idx)), Typeflag: tar.TypeReg})
	tw.Write(idx)
	var names []string
	buf := make([]byte, size/int64(files))
	for i := range files {
		rand.Read(buf)
		name := fmt.Sprintf("blob/f%03d.bin", i)
		names = append(names, name)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(buf)), Typeflag: tar.TypeReg})
		tw.Write(buf)
	}
	tw.Close()
	gz.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, names
}

// TestCrashDiskFull deploys onto a 24 MiB filesystem an artifact of 40 MiB that
// cannot fit: the deploy must fail with exit 1 and an error naming the
// file it was writing and ENOSPC, leave current on the release that was
// live (still readable through the symlink), remove the staging tree and
// give the space back; a deploy that fits works right after.
func TestCrashDiskFull(t *testing.T) {
	const fsSize = 24 << 20
	dir := mountTmpfs(t, fsSize)
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	small := bigSite(t, 20, 1)
	mustCtl(t, "--root", root, "deploy", small)
	before := list(t, root).Current
	page, err := os.ReadFile(filepath.Join(root, "current", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	free0 := freeBytes(t, dir)

	big, names := randomArchive(t, 40<<20, 40)
	r := ctl(t, "--root", root, "deploy", big)
	t.Logf("deploy onto a full disk: exit %d\n%s", r.code, r.stderr)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("error does not say ENOSPC: %s", r.stderr)
	}
	named := false
	for _, n := range names {
		if strings.Contains(r.stderr, n) {
			named = true
			break
		}
	}
	if !named {
		t.Errorf("error names none of the files being written (blob/fNNN.bin): %s", r.stderr)
	}
	if cur := list(t, root).Current; cur != before {
		t.Errorf("current is %s, want %s (untouched)", cur, before)
	}
	got, err := os.ReadFile(filepath.Join(root, "current", "index.html"))
	if err != nil || string(got) != string(page) {
		t.Errorf("current/index.html after the failure: %v (same content: %v)", err, string(got) == string(page))
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "state", "staging")); len(ents) != 0 {
		t.Errorf("staging not removed: %d entries", len(ents))
	}
	if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
		t.Errorf("store after the failure:\n%v", err)
	}
	free1 := freeBytes(t, dir)
	// The failed release keeps a record and a journal line: a few pages.
	const slack = 64 << 10
	t.Logf("free space: %d before, %d after the failed deploy (%+d bytes)", free0, free1, free1-free0)
	if free1 < free0-slack {
		t.Errorf("space not given back: %d bytes free before, %d after", free0, free1)
	}
	// Proof that the space is usable: a deploy of most of it succeeds.
	fits, _ := randomArchive(t, free1*3/4, 8)
	mustCtl(t, "--root", root, "deploy", fits, "--no-validate")
	if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
		t.Errorf("store after the deploy that fits:\n%v", err)
	}
}

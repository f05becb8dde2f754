package fetchexec

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/example/release-agent/internal/ingest"
)

// The test binary is its own helper: with FETCHEXEC_HELPER set it serves
// fetch-source, opening "fake://DIR" as the local directory DIR (and
// "fake://fail" as an error), like release-agent opens s3://.
func TestMain(m *testing.M) {
	if os.Getenv("FETCHEXEC_HELPER") == "1" {
		fake := func(ctx context.Context, spec string, opts ingest.Options) (ingest.Source, error) {
			dir := strings.TrimPrefix(spec, "fake://")
			if dir == "fail" {
				return nil, ingest.ErrNotFound
			}
			return ingest.OpenLocal(ctx, dir, opts)
		}
		os.Exit(Serve(context.Background(), ingest.Openers{"fake": fake}, os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// recorder is a safewrite.Sink that remembers what it was given.
type recorder struct {
	mu      sync.Mutex
	entries []string
}

func (r *recorder) add(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, s)
	return nil
}
func (r *recorder) Dir(name string, mode fs.FileMode) error { return r.add("dir " + name) }
func (r *recorder) File(ctx context.Context, name string, mode fs.FileMode, size int64, sha string, rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	return r.add("file " + name + " " + string(b))
}
func (r *recorder) Symlink(name, target string) error {
	return r.add("symlink " + name + " -> " + target)
}
func (r *recorder) Hardlink(name, target string) error {
	return r.add("hardlink " + name + " -> " + target)
}
func (r *recorder) Existing(string, fs.FileMode, string) (bool, error) { return false, nil }

// helper returns the openers of a program whose "fake" scheme is fetched
// by this test binary as its helper.
func helper(t *testing.T) ingest.Openers {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FETCHEXEC_HELPER", "1")
	return ingest.Openers{"fake": Opener(self)}
}

func TestFetchThroughHelper(t *testing.T) {
	op := helper(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "css"), 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>hi"), 0o644)
	os.WriteFile(filepath.Join(dir, "css", "a.css"), []byte("p{}"), 0o644)
	os.Symlink("index.html", filepath.Join(dir, "home.html"))
	src, err := op.Open(context.Background(), "fake://"+dir, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	info, err := src.Fetch(context.Background(), &rec)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != "dir" || info.Spec != dir {
		t.Errorf("info %+v", info)
	}
	sort.Strings(rec.entries)
	want := []string{"dir css", "file css/a.css p{}", "file index.html <p>hi", "symlink home.html -> index.html"}
	if strings.Join(rec.entries, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(rec.entries, "\n"), strings.Join(want, "\n"))
	}
}

func TestHelperError(t *testing.T) {
	op := helper(t)
	src, err := op.Open(context.Background(), "fake://fail", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Fetch(context.Background(), &recorder{})
	if err == nil || !strings.Contains(err.Error(), ingest.ErrNotFound.Error()) {
		t.Fatalf("err = %v, want the helper's error", err)
	}
}

func TestMissingHelper(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	op := ingest.Openers{"fake2": Opener("release-agent-not-installed")}
	_, err := op.Open(context.Background(), "fake2://x", ingest.Options{})
	if err == nil || !strings.Contains(err.Error(), "needs release-agent-not-installed") {
		t.Fatalf("err = %v", err)
	}
}

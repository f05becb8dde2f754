package symlink

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/example/release-agent/internal/fsatomic"
)

func TestReplaceCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"v1", "v2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "current")
	for _, target := range []string{"v1", "v2", "v1"} {
		if err := Replace(link, target); err != nil {
			t.Fatalf("Replace(%s): %v", target, err)
		}
		got, err := os.Readlink(link)
		if err != nil || got != target {
			t.Fatalf("link = %q, %v; want %q", got, err, target)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fsatomic.IsTemp(e.Name()) {
			t.Errorf("temporary link left behind: %s", e.Name())
		}
	}
}

func TestReplaceRefusesRealFileOrDir(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		make func(string) error
	}{
		{"dir", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"file", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) }},
	} {
		p := filepath.Join(dir, tc.name)
		if err := tc.make(p); err != nil {
			t.Fatal(err)
		}
		err := Replace(p, "elsewhere")
		var nse *NotSymlinkError
		if !errors.Is(err, ErrNotSymlink) || !errors.As(err, &nse) || nse.Path != p {
			t.Fatalf("%s: err = %v, want NotSymlinkError for %s", tc.name, err, p)
		}
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			t.Fatalf("%s was changed: %v %v", tc.name, fi, err)
		}
	}
}

// TestReplaceNeverMissing resolves the link continuously while it is
// swapped: every resolution must find one of the two targets.
func TestReplaceNeverMissing(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
		os.WriteFile(filepath.Join(dir, d, "id"), []byte(d), 0o644)
	}
	link := filepath.Join(dir, "current")
	if err := Replace(link, "a"); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var misses, reads atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, err := os.ReadFile(filepath.Join(link, "id"))
				reads.Add(1)
				if err != nil || (string(b) != "a" && string(b) != "b") {
					misses.Add(1)
				}
			}
		}()
	}
	for i := range 2000 {
		if err := Replace(link, []string{"a", "b"}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if misses.Load() != 0 {
		t.Fatalf("%d of %d reads failed during swaps", misses.Load(), reads.Load())
	}
	if reads.Load() == 0 {
		t.Fatal("no reads happened")
	}
}

// BenchmarkReplace measures one switch of a link, what a rollback costs
// in the store: Lstat, symlink, rename and the fsync of the directory.
func BenchmarkReplace(b *testing.B) {
	dir := b.TempDir()
	link := filepath.Join(dir, "current")
	targets := []string{"releases/v1", "releases/v2"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := Replace(link, targets[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

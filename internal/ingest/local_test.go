package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/ingest/archive"
	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/manifest"
)

func newStage(t *testing.T) (*safewrite.Writer, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "stage")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := safewrite.New(safewrite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return w, dir
}

func fetch(t *testing.T, path string, opts Options) (Info, *manifest.Manifest, string, error) {
	t.Helper()
	src, err := Open(context.Background(), path, opts)
	if err != nil {
		return Info{}, nil, "", err
	}
	w, dir := newStage(t)
	info, err := src.Fetch(context.Background(), w)
	m, cerr := w.Close()
	if cerr != nil {
		t.Fatal(cerr)
	}
	return info, m, dir, err
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestLocalDir(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"index.html": "<p>hi</p>", "docs/a.html": "a", "docs/deep/b.css": "b{}",
		"latest": "->docs", "docs/up.html": "->../index.html", "empty/.keep": "",
	})
	os.Chmod(filepath.Join(src, "docs/a.html"), 0o4755)
	info, m, dir, err := fetch(t, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := manifest.FromFS(os.DirFS(src))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m.Entries) != fmt.Sprint(want.Entries) {
		t.Fatalf("manifest\n got %v\nwant %v", m.Entries, want.Entries)
	}
	if e := m.Lookup("docs/a.html"); e == nil || e.Mode != 0o555 {
		t.Fatalf("setuid executable: %+v", e)
	}
	if info.Kind != "dir" || info.Spec != src || info.Size != int64(len("<p>hi</p>a"+"b{}")) || info.SHA256 != "" {
		t.Fatalf("info %+v", info)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "empty")); err != nil || !fi.IsDir() {
		t.Fatalf("empty dir not staged: %v", err)
	}
}

func TestLocalDirRefusals(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"ok.html": "ok", "sub/out": "->../../etc/passwd"})
	_, _, _, err := fetch(t, src, Options{})
	var ee *safewrite.EntryError
	if !errors.Is(err, safewrite.ErrEscapes) || !errors.As(err, &ee) || ee.Entry != "sub/out" || !strings.Contains(err.Error(), src) {
		t.Fatalf("symlink out of the tree: %v", err)
	}

	src = t.TempDir()
	if err := unix.Mkfifo(filepath.Join(src, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = fetch(t, src, Options{})
	if !errors.Is(err, safewrite.ErrUnsupported) || !strings.Contains(err.Error(), `"pipe"`) {
		t.Fatalf("fifo: %v", err)
	}

	if _, err := OpenLocal(context.Background(), src, Options{SHA256: strings.Repeat("0", 64)}); err == nil {
		t.Fatal("a sha256 for a directory was accepted")
	}
}

func TestLocalNotFound(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.tar.gz")
	_, err := Open(context.Background(), p, Options{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
	unknown := filepath.Join(t.TempDir(), "site.rar")
	os.WriteFile(unknown, []byte("x"), 0o644)
	if _, err := Open(context.Background(), unknown, Options{}); !errors.Is(err, archive.ErrUnknownFormat) || !strings.Contains(err.Error(), unknown) {
		t.Fatalf("unknown format: %v", err)
	}
}

// artifact copies an archive from archive/testdata (written by
// archive/internal/gen) into a temp dir.
func artifact(t *testing.T, name string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("archive", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return p, hex.EncodeToString(s[:])
}

func TestLocalArchives(t *testing.T) {
	for _, name := range []string{"happy.tar", "happy.tar.gz", "happy.tar.zst", "happy.zip"} {
		t.Run(name, func(t *testing.T) {
			p, sum := artifact(t, name)
			fi, _ := os.Stat(p)
			info, m, _, err := fetch(t, p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if info.SHA256 != sum || info.Size != fi.Size() || info.Kind != strings.TrimPrefix(name, "happy.") {
				t.Fatalf("info %+v, want sha256 %s size %d", info, sum, fi.Size())
			}
			if m.Lookup("site/index.html") == nil {
				t.Fatalf("manifest %v", m.Entries)
			}
			// With the right sums given both ways it still works.
			os.WriteFile(p+".sha256", []byte(sum+"  dist/"+name+"\n"), 0o644)
			if _, _, _, err := fetch(t, p, Options{SHA256: strings.ToUpper(sum)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLocalChecksumMismatch(t *testing.T) {
	bad := strings.Repeat("ab", 32)
	for _, name := range []string{"happy.tar.gz", "happy.zip"} {
		for _, how := range []string{"option", "sidecar", "sidecar-bare"} {
			t.Run(name+"/"+how, func(t *testing.T) {
				p, _ := artifact(t, name)
				opts := Options{}
				switch how {
				case "option":
					opts.SHA256 = bad
				case "sidecar":
					os.WriteFile(p+".sha256", []byte(bad+" *"+name+"\n"), 0o644)
				case "sidecar-bare":
					os.WriteFile(p+".sha256", []byte(bad+"\n"), 0o644)
				}
				_, m, dir, err := fetch(t, p, opts)
				if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err = %v", err)
				}
				if len(m.Entries) != 0 {
					t.Fatalf("staged %d entries before the checksum was verified", len(m.Entries))
				}
				if names, _ := os.ReadDir(dir); len(names) != 0 {
					t.Fatalf("staging dir not empty: %v", names)
				}
			})
		}
	}
}

func TestLocalSidecarErrors(t *testing.T) {
	p, sum := artifact(t, "happy.tar")
	for content, want := range map[string]string{
		"xyz  happy.tar\n":             "line 1: not a sha256",
		sum + "  other.tar\n":          "no sha256 for happy.tar",
		strings.Repeat("g", 64) + "\n": "line 1: not a sha256",
	} {
		os.WriteFile(p+".sha256", []byte(content), 0o644)
		_, err := Open(context.Background(), p, Options{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p+".sha256") {
			t.Errorf("sidecar %q: err = %v, want %q naming the file", content, err, want)
		}
		// The content is never quoted: a checksum file must not become
		// a way to read another file through the error.
		if err != nil && (strings.Contains(err.Error(), "xyz") || strings.Contains(err.Error(), "gggg")) {
			t.Errorf("sidecar %q: the error quotes the file: %v", content, err)
		}
	}
	// An artifact the daemon opened itself (an inbox entry): a symlinked
	// checksum file is refused, not followed.
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("TOP SECRET\n"), 0o600)
	os.Remove(p + ".sha256")
	if err := os.Symlink(secret, p+".sha256"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Open(context.Background(), p, Options{File: f}); err == nil || !strings.Contains(err.Error(), "symlink") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("symlinked checksum file of an opened artifact: err = %v, want a refusal naming the symlink", err)
	}
	os.Remove(p + ".sha256")
	if _, err := Open(context.Background(), p, Options{SHA256: "123"}); err == nil {
		t.Error("a short --sha256 was accepted")
	}
}

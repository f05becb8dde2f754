package ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/manifest"
)

// fetchStream stages the bytes of archive/testdata/name as a stream (as
// `releasectl deploy -` sends them), with limits, spooling a zip in a
// directory of its own that must be empty afterwards.
func fetchStream(t *testing.T, name string, lim safewrite.Limits) (Info, *manifest.Manifest, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("archive", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	src, err := OpenStream("-", bytes.NewReader(b), StreamOptions{From: "stdin", SpoolDir: spool, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "stage")
	os.Mkdir(dir, 0o755)
	w, err := safewrite.New(safewrite.Options{Dir: dir, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	info, err := src.Fetch(context.Background(), w)
	m, cerr := w.Close()
	if err == nil {
		err = cerr
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("%s: spool directory not empty after the fetch: %v", name, left)
	}
	return info, m, err
}

// TestStreamFormatsAsFiles: an archive on standard input is known by its
// first bytes (tar, tar.gz, tar.zst, zip; zip spooled) and staged exactly
// as the same archive read from a file.
func TestStreamFormatsAsFiles(t *testing.T) {
	for _, name := range []string{"happy.tar", "happy.tar.gz", "happy.tar.zst", "happy.zip"} {
		p, sum := artifact(t, name)
		_, want, _, err := fetch(t, p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		info, got, err := fetchStream(t, name, safewrite.Limits{})
		if err != nil {
			t.Fatalf("%s as a stream: %v", name, err)
		}
		kind := "stream:" + strings.TrimPrefix(name, "happy.")
		if info.Kind != kind || info.SHA256 != sum || info.Meta["from"] != "stdin" {
			t.Errorf("%s as a stream: info %+v, want kind %s sha256 %s", name, info, kind, sum)
		}
		if len(got.Entries) != len(want.Entries) {
			t.Fatalf("%s: %d entries as a stream, %d as a file", name, len(got.Entries), len(want.Entries))
		}
		for _, e := range want.Entries {
			if g := got.Lookup(e.Path); g == nil || g.SHA256 != e.SHA256 || g.Mode != e.Mode {
				t.Errorf("%s: %s as a stream = %+v, as a file %+v", name, e.Path, g, e)
			}
		}
	}
}

// TestStreamRefusesWhatFilesRefuse: hostile archives and archives over
// the limits fail as a stream exactly when they fail as a file, with
// nothing staged.
func TestStreamRefusesWhatFilesRefuse(t *testing.T) {
	for _, name := range []string{"traversal.tar", "traversal.zip", "symlink-escape.tar", "symlink-escape.zip",
		"hardlink-escape.tar", "absolute.tar", "absolute.zip", "duplicate.zip", "fifo.tar", "lying-size.zip"} {
		p, _ := artifact(t, name)
		_, _, _, ferr := fetch(t, p, Options{})
		if ferr == nil {
			t.Fatalf("%s: accepted as a file", name)
		}
		if _, _, err := fetchStream(t, name, safewrite.Limits{}); err == nil {
			t.Errorf("%s: refused as a file (%v), accepted as a stream", name, ferr)
		}
	}
	for _, name := range []string{"happy.tar.gz", "happy.zip", "happy.tar.zst"} {
		for _, lim := range []safewrite.Limits{{MaxFiles: 1}, {MaxBytes: 4}} {
			if _, m, err := fetchStream(t, name, lim); err == nil {
				t.Errorf("%s with limits %+v: accepted (%d entries)", name, lim, len(m.Entries))
			}
		}
	}
}

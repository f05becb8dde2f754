package archive

import (
	"archive/tar"
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
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/manifest"
)

func TestDetect(t *testing.T) {
	for name, want := range map[string]Format{
		"site.tar": Tar, "a/b/SITE.TAR.GZ": TarGz, "x.tgz": TarGz, "x.tar.zst": TarZst,
		"x.tzst": TarZst, "x.zip": Zip,
	} {
		if got, err := Detect(name); err != nil || got != want {
			t.Errorf("Detect(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"x.gz", "x.rar", "tar", "x.tar.bz2", ""} {
		if _, err := Detect(name); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), name) {
			t.Errorf("Detect(%q) = %v, want ErrUnknownFormat naming the file", name, err)
		}
	}
}

// sandbox is a staging dir with a sibling that must stay empty.
type sandbox struct {
	parent, dir, outside string
}

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	p := t.TempDir()
	s := sandbox{parent: p, dir: filepath.Join(p, "stage"), outside: filepath.Join(p, "outside")}
	for _, d := range []string{s.dir, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// check fails the test if anything exists outside the staging dir or if the
// staged tree holds something a release must not.
func (s sandbox) check(t testing.TB) {
	t.Helper()
	names, err := os.ReadDir(s.parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[0].Name() != "outside" || names[1].Name() != "stage" {
		t.Fatalf("the parent of the staging dir changed: %v", names)
	}
	if out, _ := os.ReadDir(s.outside); len(out) != 0 {
		t.Fatalf("something was written outside the staging dir: %v", out)
	}
	// (Absolute targets such as /etc/x are not checked here: other
	// programs on the machine may create them. The os.Root of the Writer
	// is what keeps them out; the hostile tests check the refusal.)
	err = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode().IsRegular():
			if m := fi.Mode(); m != 0o444 && m != 0o555 {
				t.Errorf("%s: mode %v", p, m)
			}
		case fi.IsDir():
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: dir mode %v", p, fi.Mode())
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			if r, err := filepath.EvalSymlinks(p); err == nil {
				if rel, err := filepath.Rel(s.dir, r); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
					t.Errorf("%s resolves to %s, outside the staging dir", p, r)
				}
			}
		default:
			t.Errorf("%s: unexpected file type %v", p, fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func extractFile(t testing.TB, path string, w safewrite.Sink) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	format, err := Detect(path)
	if err != nil {
		t.Fatal(err)
	}
	return Extract(context.Background(), f, format, w)
}

func hexsum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestHappyPaths(t *testing.T) {
	app := strings.Repeat("console.log('x');\n", 500)
	index := "<!doctype html><title>home</title><a href=\"docs/\">docs</a>\n"
	want := []manifest.Entry{
		{Path: "site/assets/app.js", Size: int64(len(app)), SHA256: hexsum(app), Mode: 0o444},
		{Path: "site/docs/copy.html", Size: 12, SHA256: hexsum("<p>docs</p>\n"), Mode: 0o444},
		{Path: "site/docs/home.html", Link: "../index.html", Mode: 0o777},
		{Path: "site/docs/index.html", Size: 12, SHA256: hexsum("<p>docs</p>\n"), Mode: 0o444},
		{Path: "site/index.html", Size: int64(len(index)), SHA256: hexsum(index), Mode: 0o444},
		{Path: "site/latest", Link: "docs", Mode: 0o777},
		{Path: "site/tool.sh", Size: 18, SHA256: hexsum("#!/bin/sh\necho hi\n"), Mode: 0o555},
	}
	for _, name := range []string{"happy.tar", "happy.tar.gz", "happy.tar.zst", "happy.zip"} {
		t.Run(name, func(t *testing.T) {
			s := newSandbox(t)
			w, err := safewrite.New(safewrite.Options{Dir: s.dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := extractFile(t, filepath.Join("testdata", name), w); err != nil {
				t.Fatal(err)
			}
			m, err := w.Close()
			if err != nil {
				t.Fatal(err)
			}
			exp := want
			if name == "happy.zip" { // zip has no hardlinks
				exp = slices.DeleteFunc(slices.Clone(want), func(e manifest.Entry) bool { return e.Path == "site/docs/copy.html" })
			}
			if fmt.Sprint(m.Entries) != fmt.Sprint(exp) {
				t.Fatalf("manifest\n got %v\nwant %v", m.Entries, exp)
			}
			disk, err := manifest.FromFS(os.DirFS(s.dir))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(disk.Entries) != fmt.Sprint(exp) {
				t.Fatalf("disk\n got %v\nwant %v", disk.Entries, exp)
			}
			fi, err := os.Stat(filepath.Join(s.dir, "site/tool.sh"))
			if err != nil || fi.Mode() != 0o555 {
				t.Fatalf("setuid file stored as %v, %v; want -r-xr-xr-x", fi.Mode(), err)
			}
			s.check(t)
		})
	}
}

func TestHostileArchives(t *testing.T) {
	tests := []struct {
		file  string
		want  error
		entry string // named in the error
	}{
		{"traversal.tar", safewrite.ErrUnsafePath, "../x"},
		{"traversal-nested.tar", safewrite.ErrUnsafePath, "a/../../x"},
		{"absolute.tar", safewrite.ErrUnsafePath, "/etc/x"},
		{"symlink-escape.tar", safewrite.ErrEscapes, "a/l"},
		{"symlink-abs-file.tar", safewrite.ErrEscapes, "l"},
		{"symlink-then-file.tar", safewrite.ErrEscapes, "l/x"},
		{"symlink-dotdot.tar", safewrite.ErrEscapes, "x"},
		{"hardlink-escape.tar", safewrite.ErrEscapes, "h"},
		{"hardlink-absolute.tar", safewrite.ErrEscapes, "h"},
		{"hardlink-to-dir.tar", safewrite.ErrEscapes, "h"},
		{"hardlink-forward.tar", safewrite.ErrEscapes, "h"},
		{"chardev.tar", safewrite.ErrUnsupported, "null"},
		{"blockdev.tar", safewrite.ErrUnsupported, "sda"},
		{"fifo.tar", safewrite.ErrUnsupported, "pipe"},
		{"duplicate.tar", safewrite.ErrDuplicate, "./a.html"},
		{"dir-file-conflict.tar", safewrite.ErrDuplicate, "a/b"},
		{"bad-utf8.tar", safewrite.ErrUnsafePath, "caf\xe9.html"},
		{"bomb-count.tar.gz", safewrite.ErrLimit, "f0100.html"},
		{"traversal.zip", safewrite.ErrUnsafePath, "../x"},
		{"absolute.zip", safewrite.ErrUnsafePath, "/etc/x"},
		{"symlink-escape.zip", safewrite.ErrEscapes, "l"},
		{"symlink-then-file.zip", safewrite.ErrEscapes, "l"},
		{"encrypted.zip", safewrite.ErrUnsupported, "secret.html"},
		{"duplicate.zip", safewrite.ErrDuplicate, "a.html"},
		{"fifo.zip", safewrite.ErrUnsupported, "pipe"},
		{"lying-size.zip", safewrite.ErrSizeMismatch, "zeros.bin"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			s := newSandbox(t)
			w, err := safewrite.New(safewrite.Options{Dir: s.dir, Limits: safewrite.Limits{MaxFiles: 100}})
			if err != nil {
				t.Fatal(err)
			}
			err = extractFile(t, filepath.Join("testdata", tc.file), w)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var ee *safewrite.EntryError
			if !errors.As(err, &ee) || ee.Entry != tc.entry {
				t.Fatalf("err = %v, want an *safewrite.EntryError for entry %q", err, tc.entry)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.entry)) {
				t.Fatalf("message %q does not name the entry", err)
			}
			w.Close()
			s.check(t)
		})
	}
}

// countingReader counts the compressed bytes the extractor consumed.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// zeroMember returns one gzip member (or zstd frame) of n zero bytes.
func zeroMember(t testing.TB, f Format, n int) []byte {
	if f == TarZst {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		return e.EncodeAll(make([]byte, n), nil)
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(make([]byte, n))
	zw.Close()
	return b.Bytes()
}

// bomb returns a compressed tar stream whose entries are files of zeros,
// of the given sizes, built from repeated members so that 10 GiB cost a
// few hundred kB of memory: gzip and zstd both decode concatenated
// members/frames as one stream.
func bomb(t testing.TB, f Format, sizes ...int64) io.Reader {
	const chunk = 64 << 20
	zero := zeroMember(t, f, chunk)
	var parts []io.Reader
	for i, size := range sizes {
		var hdr bytes.Buffer
		tw := tar.NewWriter(&hdr)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("zeros%d.bin", i), Size: size, Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatPAX})
		tw.Flush()
		parts = append(parts, bytes.NewReader(compress(t, f, hdr.Bytes())))
		for size >= chunk {
			parts = append(parts, bytes.NewReader(zero))
			size -= chunk
		}
		pad := (512 - size%512) % 512
		if size+pad > 0 {
			parts = append(parts, bytes.NewReader(zeroMember(t, f, int(size+pad))))
		}
	}
	parts = append(parts, bytes.NewReader(zeroMember(t, f, 1024)))
	return io.MultiReader(parts...)
}

func compress(t testing.TB, f Format, b []byte) []byte {
	if f == TarZst {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		return e.EncodeAll(b, nil)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func TestBombs(t *testing.T) {
	const limit = 8 << 20
	many := make([]int64, 40)
	for i := range many {
		many[i] = 1 << 20
	}
	for _, f := range []Format{TarGz, TarZst} {
		for _, tc := range []struct {
			name  string
			sizes []int64
			entry string
		}{
			{"10GiB-file", []int64{10 << 30}, "zeros0.bin"},
			{"many-1MiB-files", many, "zeros8.bin"},
		} {
			t.Run(string(f)+"/"+tc.name, func(t *testing.T) {
				s := newSandbox(t)
				w, err := safewrite.New(safewrite.Options{Dir: s.dir, Limits: safewrite.Limits{MaxBytes: limit}})
				if err != nil {
					t.Fatal(err)
				}
				cr := &countingReader{r: bomb(t, f, tc.sizes...)}
				err = Extract(context.Background(), cr, f, w)
				var ee *safewrite.EntryError
				if !errors.Is(err, safewrite.ErrLimit) || !errors.As(err, &ee) || ee.Entry != tc.entry {
					t.Fatalf("err = %v, want ErrLimit for %q", err, tc.entry)
				}
				w.Close()
				var staged int64
				filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() {
						fi, _ := d.Info()
						staged += fi.Size()
					}
					return nil
				})
				if staged > limit {
					t.Errorf("staged %d bytes with a limit of %d", staged, limit)
				}
				// The decompressor was stopped early: it did not read the
				// whole compressed stream (about 10 MB for gzip).
				if cr.n > 4<<20 {
					t.Errorf("read %d compressed bytes before refusing", cr.n)
				}
				s.check(t)
			})
		}
	}
}

func TestTrailingDataAndCorruption(t *testing.T) {
	plain, err := os.ReadFile("testdata/happy.tar")
	if err != nil {
		t.Fatal(err)
	}
	trailing := compress(t, TarGz, append(slices.Clone(plain), make([]byte, 2*MaxTrailing)...))
	s := newSandbox(t)
	w, _ := safewrite.New(safewrite.Options{Dir: s.dir})
	if err := Extract(context.Background(), bytes.NewReader(trailing), TarGz, w); !errors.Is(err, ErrTrailingData) {
		t.Fatalf("trailing data: err = %v", err)
	}
	w.Close()

	gz := compress(t, TarGz, plain)
	gz[len(gz)-6] ^= 0xff // the CRC-32 in the gzip trailer
	s = newSandbox(t)
	w, _ = safewrite.New(safewrite.Options{Dir: s.dir})
	if err := Extract(context.Background(), bytes.NewReader(gz), TarGz, w); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("corrupt gzip checksum: err = %v", err)
	}
	w.Close()

	for _, cut := range []int{3000, 3072, 2560, len(plain) - 1024, 0} {
		s = newSandbox(t)
		w, _ = safewrite.New(safewrite.Options{Dir: s.dir})
		err = Extract(context.Background(), bytes.NewReader(plain[:cut]), Tar, w)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("tar cut at %d: err = %v", cut, err)
		}
		w.Close()
	}
}

func TestCancel(t *testing.T) {
	s := newSandbox(t)
	w, _ := safewrite.New(safewrite.Options{Dir: s.dir})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, _ := os.Open("testdata/happy.tar")
	defer f.Close()
	if err := ExtractTar(ctx, f, w); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	zf, _ := os.Open("testdata/happy.zip")
	defer zf.Close()
	fi, _ := zf.Stat()
	if err := ExtractZip(ctx, zf, fi.Size(), w); !errors.Is(err, context.Canceled) {
		t.Fatalf("zip: err = %v", err)
	}
	m, _ := w.Close()
	if len(m.Entries) != 0 {
		t.Fatalf("staged %d entries after cancel", len(m.Entries))
	}
}

func TestZipNeedsReaderAt(t *testing.T) {
	s := newSandbox(t)
	w, _ := safewrite.New(safewrite.Options{Dir: s.dir})
	defer w.Close()
	if err := Extract(context.Background(), strings.NewReader("PK"), Zip, w); err == nil {
		t.Fatal("zip from a strings.Reader without Size: no error")
	}
	b, _ := os.ReadFile("testdata/happy.zip")
	if err := Extract(context.Background(), bytes.NewReader(b), Zip, w); err != nil {
		t.Fatalf("zip from a bytes.Reader (has Size): %v", err)
	}
}

func fuzzLimits() safewrite.Limits {
	return safewrite.Limits{MaxBytes: 1 << 20, MaxFiles: 64, MaxPathLen: 256}
}

func FuzzTarEntries(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		w, err := safewrite.New(safewrite.Options{Dir: s.dir, Limits: fuzzLimits()})
		if err != nil {
			t.Fatal(err)
		}
		ExtractTar(context.Background(), bytes.NewReader(data), w)
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		s.check(t)
	})
}

func FuzzZipEntries(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		w, err := safewrite.New(safewrite.Options{Dir: s.dir, Limits: fuzzLimits()})
		if err != nil {
			t.Fatal(err)
		}
		ExtractZip(context.Background(), bytes.NewReader(data), int64(len(data)), w)
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		s.check(t)
	})
}

// TestDedupAgainstLive stages the same archive twice, the second time with
// the first as the live release: every regular file must be a hardlink of
// the live one and the manifests must be equal.
func TestDedupAgainstLive(t *testing.T) {
	for _, name := range []string{"happy.tar.gz", "happy.zip"} {
		t.Run(name, func(t *testing.T) {
			live := newSandbox(t)
			w, _ := safewrite.New(safewrite.Options{Dir: live.dir})
			if err := extractFile(t, filepath.Join("testdata", name), w); err != nil {
				t.Fatal(err)
			}
			lm, err := w.Close()
			if err != nil {
				t.Fatal(err)
			}
			s := newSandbox(t)
			w2, _ := safewrite.New(safewrite.Options{Dir: s.dir, LiveDir: live.dir, Live: lm})
			if err := extractFile(t, filepath.Join("testdata", name), w2); err != nil {
				t.Fatal(err)
			}
			m, err := w2.Close()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(m.Entries) != fmt.Sprint(lm.Entries) {
				t.Fatalf("manifest differs:\n%v\n%v", m.Entries, lm.Entries)
			}
			files := 0
			for _, e := range m.Entries {
				if e.IsSymlink() {
					continue
				}
				files++
				a, err := os.Lstat(filepath.Join(s.dir, e.Path))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := os.Lstat(filepath.Join(live.dir, e.Path))
				if !os.SameFile(a, b) {
					t.Errorf("%s is not a hardlink of the live file", e.Path)
				}
			}
			if st := w2.Stats(); st.LinkedFiles == 0 || st.Files != int64(files) {
				t.Errorf("stats %+v with %d files", st, files)
			}
			s.check(t)
		})
	}
}

package archive

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/manifest"
)

const pythonDocs = "/usr/share/doc/python3.11/html"

// realSite returns a tar.gz (made by tar -czf, gzip -6) of the python3.11-doc
// HTML tree with its out-of-tree symlinks dereferenced (cp -rL).
func realSite(b *testing.B) (string, int64) {
	b.Helper()
	if _, err := os.Stat(filepath.Join(pythonDocs, "index.html")); err != nil {
		testenv.Missing(b, "python3.11-doc (apt-get install -y python3.11-doc): "+err.Error())
	}
	tarBin := testenv.Tool(b, "tar")
	testenv.Tool(b, "gzip")
	dir := b.TempDir()
	site := filepath.Join(dir, "site")
	if out, err := exec.Command("cp", "-rL", pythonDocs, site).CombinedOutput(); err != nil {
		b.Fatalf("cp -rL %s: %v: %s", pythonDocs, err, out)
	}
	tgz := filepath.Join(dir, "site.tar.gz")
	if out, err := exec.Command(tarBin, "-czf", tgz, "-C", site, ".").CombinedOutput(); err != nil {
		b.Fatalf("tar -czf: %v: %s", err, out)
	}
	m, err := manifest.FromFS(os.DirFS(site))
	if err != nil {
		b.Fatal(err)
	}
	_, size := m.Totals()
	os.RemoveAll(site)
	return tgz, size
}

func extractTgz(b *testing.B, tgz, dir string, opts safewrite.Options) *manifest.Manifest {
	opts.Dir = dir
	w, err := safewrite.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(tgz)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := Extract(context.Background(), f, TarGz, w); err != nil {
		b.Fatal(err)
	}
	m, err := w.Close()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkExtractSite extracts the same tar.gz of a real site with Extract
// into a safewrite.Writer and with `tar -xzf` in the same run, and reports
// the ratio of their wall times (x-tar, lower is better; the target is
// at most 1.5). "dedup" stages the site a second time against the first
// as the live release (every file hardlinked, nothing written).
func BenchmarkExtractSite(b *testing.B) {
	tgz, size := realSite(b)
	tarBin := testenv.Tool(b, "tar")
	for _, dedup := range []bool{false, true} {
		name := "fresh"
		if dedup {
			name = "dedup"
		}
		b.Run(name, func(b *testing.B) {
			tmp := b.TempDir()
			var opts safewrite.Options
			if dedup {
				live := filepath.Join(tmp, "live")
				os.Mkdir(live, 0o755)
				opts.LiveDir, opts.Live = live, extractTgz(b, tgz, live, safewrite.Options{})
			}
			var ours, theirs time.Duration
			i := 0
			for b.Loop() {
				i++
				d1, err := os.MkdirTemp(tmp, "ours-")
				if err != nil {
					b.Fatal(err)
				}
				d2, err := os.MkdirTemp(tmp, "tar-")
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				extractTgz(b, tgz, d1, opts)
				t1 := time.Now()
				if out, err := exec.Command(tarBin, "-xzf", tgz, "-C", d2).CombinedOutput(); err != nil {
					b.Fatalf("tar -xzf: %v: %s", err, out)
				}
				t2 := time.Now()
				ours += t1.Sub(t0)
				theirs += t2.Sub(t1)
				os.RemoveAll(d1)
				os.RemoveAll(d2)
			}
			b.ReportMetric(float64(ours)/float64(theirs), "x-tar")
			b.ReportMetric(float64(ours.Milliseconds())/float64(i), "ms-extract/op")
			b.ReportMetric(float64(theirs.Milliseconds())/float64(i), "ms-tar/op")
			b.ReportMetric(float64(size)/1e6/(ours.Seconds()/float64(i)), "MB/s")
		})
	}
}

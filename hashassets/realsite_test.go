package hashassets

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/htmlrefs"
)

const pythonDocs = "/usr/share/doc/python3.11/html"

// needPythonDocs skips (outside CI) or fails (CI set) when the
// python3.11-doc package is not installed.
func needPythonDocs(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(pythonDocs, "index.html")); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("python3.11-doc is required in CI (apt-get install -y python3.11-doc): %v", err)
		}
		tb.Skipf("python3.11-doc not installed (apt-get install -y python3.11-doc): %v", err)
	}
}

func copySite(tb testing.TB, dst string) {
	tb.Helper()
	if out, err := exec.Command("cp", "-rL", pythonDocs, dst).CombinedOutput(); err != nil {
		tb.Fatalf("cp -rL: %v\n%s", err, out)
	}
}

type docRef struct {
	htmlrefs.Ref
	from, base string
}

// refsOf scans an HTML page or a CSS file.
func refsOf(tb testing.TB, p string, b []byte) (refs []docRef) {
	tb.Helper()
	var base string
	var raw []htmlrefs.Ref
	switch strings.ToLower(path.Ext(p)) {
	case ".html", ".htm":
		err := htmlrefs.ScanHTML(b, htmlrefs.Options{}, htmlrefs.Funcs{
			OnRef:  func(r htmlrefs.Ref) { raw = append(raw, r) },
			OnBase: func(h string, _ int) { base = h },
		})
		if err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
	case ".css":
		htmlrefs.ScanCSS(b, 0, 1, func(r htmlrefs.Ref) { raw = append(raw, r) })
	}
	for _, r := range raw {
		refs = append(refs, docRef{r, p, base})
	}
	return refs
}

// resolves reports whether r names an existing file of the tree at root
// (directories by their index.html), and the file.
func resolves(root string, r docRef) (string, bool) {
	t := htmlrefs.Resolve(r.from, r.base, r.Value)
	if t.Class != htmlrefs.Local {
		return "", false
	}
	p := t.Path
	if t.Dir {
		p = path.Join(p, "index.html")
	}
	fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil || fi.IsDir() {
		return p, false
	}
	return p, true
}

// TestPythonDocs hashes a real Sphinx site (python3.11-doc, 530 pages) and
// checks, by scanning every page and style sheet before and after with
// htmlrefs:
//   - the pages and style sheets have the same references in the same
//     order, and the bytes between references are identical (so the only
//     bytes that differ are rewritten URLs);
//   - every reference that resolved before resolves after;
//   - every reference to a hashed asset names its hashed file.
func TestPythonDocs(t *testing.T) {
	needPythonDocs(t)
	if testing.Short() {
		t.Skip("copies 67 MB")
	}
	tmp := t.TempDir()
	before := filepath.Join(tmp, "before")
	after := filepath.Join(tmp, "after")
	copySite(t, before)
	copySite(t, after)
	start := time.Now()
	man, err := HashDir(context.Background(), after, Options{InPlace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hashed %d assets, %d paths changed in %v", len(man.Assets), len(man.Changed()), time.Since(start))
	hashed := man.Map()
	var pages, refsSeen, resolvedBefore, rewritten, toAssets int
	err = filepath.WalkDir(before, func(fp string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(before, fp)
		p := filepath.ToSlash(rel)
		ext := strings.ToLower(path.Ext(p))
		if ext != ".html" && ext != ".css" {
			return nil
		}
		if ext == ".html" {
			pages++
		}
		ob, err := os.ReadFile(fp)
		if err != nil {
			return err
		}
		nb, err := os.ReadFile(filepath.Join(after, rel))
		if err != nil {
			return err
		}
		or, nr := refsOf(t, p, ob), refsOf(t, p, nb)
		if len(or) != len(nr) {
			t.Fatalf("%s: %d references before, %d after", p, len(or), len(nr))
		}
		lastO, lastN := 0, 0
		for i := range or {
			o, n := or[i], nr[i]
			refsSeen++
			if o.Inexact {
				continue
			}
			if !bytes.Equal(ob[lastO:o.Start], nb[lastN:n.Start]) {
				t.Fatalf("%s: bytes before reference %d (%q) differ", p, i, o.Raw)
			}
			lastO, lastN = o.End, n.End
			if o.Raw != n.Raw {
				rewritten++
			}
			target, ok := resolves(before, o)
			if !ok {
				continue
			}
			resolvedBefore++
			ntarget, ok := resolves(after, n)
			if !ok {
				t.Errorf("%s:%d: %q resolved before hashing (%s), %q does not after", p, o.Line, o.Value, target, n.Value)
				continue
			}
			if h, isAsset := hashed[target]; isAsset {
				toAssets++
				if ntarget != h {
					t.Errorf("%s:%d: %q names %s, want the hashed %s", p, o.Line, n.Value, ntarget, h)
				}
				// The query and fragment survive.
				ot, nt := htmlrefs.Resolve(o.from, o.base, o.Value), htmlrefs.Resolve(n.from, n.base, n.Value)
				if ot.Query != nt.Query || ot.Fragment != nt.Fragment {
					t.Errorf("%s:%d: query/fragment changed: %q -> %q", p, o.Line, o.Value, n.Value)
				}
			} else if ntarget != target {
				t.Errorf("%s:%d: %q now names %s instead of %s", p, o.Line, n.Value, ntarget, target)
			}
		}
		if !bytes.Equal(ob[lastO:], nb[lastN:]) {
			t.Fatalf("%s: bytes after the last reference differ", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pages; %d references, %d resolved before and after, %d to hashed assets, %d rewritten", pages, refsSeen, resolvedBefore, toAssets, rewritten)
	if pages < 500 || toAssets == 0 || rewritten != toAssets {
		t.Errorf("unexpected counts: pages %d, to assets %d, rewritten %d", pages, toAssets, rewritten)
	}
	// Idempotent on a real site too.
	again, err := HashDir(context.Background(), after, Options{InPlace: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changed()) != 0 {
		t.Errorf("second run changed %d paths, e.g. %v", len(again.Changed()), again.Changed()[:min(5, len(again.Changed()))])
	}
}

// BenchmarkPythonDocs reports the cost of hashing the python3.11-doc site
// relative to extracting the same tree with tar -x, measured in the same
// run (metric hash/tar-x; the target is <= 0.5), and the hashing
// throughput over the site's bytes.
func BenchmarkPythonDocs(b *testing.B) {
	needPythonDocs(b)
	tmp := b.TempDir()
	tarball := filepath.Join(tmp, "site.tar")
	if out, err := exec.Command("tar", "-C", pythonDocs, "-chf", tarball, ".").CombinedOutput(); err != nil {
		b.Fatalf("tar -c: %v\n%s", err, out)
	}
	fi, err := os.Stat(tarball)
	if err != nil {
		b.Fatal(err)
	}
	var tarTime, hashTime, floorTime time.Duration
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		n++
		dir := filepath.Join(tmp, "x", strings.Repeat("d", 1)+string(rune('a'+i%26))+time.Now().Format("150405.000000000"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if out, err := exec.Command("tar", "-C", dir, "-xf", tarball).CombinedOutput(); err != nil {
			b.Fatalf("tar -x: %v\n%s", err, out)
		}
		t1 := time.Now()
		if _, err := HashDir(context.Background(), dir, Options{InPlace: true}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := rewriteAllPages(dir); err != nil {
			b.Fatal(err)
		}
		floorTime += time.Since(t2)
		tarTime += t1.Sub(t0)
		hashTime += t2.Sub(t1)
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(hashTime.Seconds()/tarTime.Seconds(), "hash/tar-x")
	b.ReportMetric(floorTime.Seconds()/tarTime.Seconds(), "floor/tar-x")
	b.ReportMetric(float64(fi.Size())*float64(n)/hashTime.Seconds()/1e6, "hash-MB/s")
	b.ReportMetric(float64(tarTime.Milliseconds())/float64(n), "tar-x-ms/op")
	b.ReportMetric(float64(hashTime.Milliseconds())/float64(n), "hash-ms/op")
}

// rewriteAllPages reads every page and writes it back unchanged through a
// RootWriter (temp file + rename): the I/O that rewriting pages costs at
// the least, with no scanning. The benchmark reports it as floor/tar-x.
func rewriteAllPages(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	w := NewRootWriter(root)
	defer w.Close()
	var pages []string
	fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && isPage(p) {
			pages = append(pages, p)
		}
		return nil
	})
	h := &hasher{ctx: context.Background(), opts: Options{Workers: runtime.GOMAXPROCS(0)}}
	return h.parallel(len(pages), func(i int) error {
		b, err := dirFS{root.FS(), w}.ReadFile(pages[i])
		if err != nil {
			return err
		}
		return w.WriteFile(pages[i], b, 0o444)
	})
}

package htmlrefs

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func loadPages(b *testing.B) (pages [][]byte, total int64) {
	const dir = "/usr/share/doc/python3.11/html"
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			b.Fatalf("python3.11-doc required in CI: %v", err)
		}
		b.Skipf("python3.11-doc not installed: %v", err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".html") {
			data, err := os.ReadFile(p)
			if err == nil {
				pages = append(pages, data)
				total += int64(len(data))
			}
		}
		return nil
	})
	return pages, total
}

// BenchmarkScanHTMLPythonDocs scans every page of python3.11-doc.
func BenchmarkScanHTMLPythonDocs(b *testing.B) {
	pages, total := loadPages(b)
	b.SetBytes(total)
	n := 0
	for b.Loop() {
		for _, p := range pages {
			ScanHTML(p, Options{}, Funcs{OnRef: func(Ref) { n++ }})
		}
	}
}

// BenchmarkTokenizerPythonDocs is the floor: x/net/html's Tokenizer alone.
func BenchmarkTokenizerPythonDocs(b *testing.B) {
	pages, total := loadPages(b)
	b.SetBytes(total)
	for b.Loop() {
		for _, p := range pages {
			z := html.NewTokenizer(bytes.NewReader(p))
			for z.Next() != html.ErrorToken {
			}
		}
	}
}

// BenchmarkPortedTokenizerPythonDocs: the port in tokenizer.go alone.
func BenchmarkPortedTokenizerPythonDocs(b *testing.B) {
	pages, total := loadPages(b)
	b.SetBytes(total)
	for b.Loop() {
		for _, p := range pages {
			z := tokenizer{buf: p}
			for tt, _ := z.next(); tt != tokError; tt, _ = z.next() {
			}
		}
	}
}

// BenchmarkResolvePythonDocs resolves every reference of python3.11-doc
// (with the page's <base href>, if any) once per iteration.
func BenchmarkResolvePythonDocs(b *testing.B) {
	const dir = "/usr/share/doc/python3.11/html"
	loadPages(b) // skips without python3.11-doc
	type triple struct{ doc, base, ref string }
	var refs []triple
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".html") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		doc, _ := filepath.Rel(dir, p)
		var base string
		ScanHTML(data, Options{}, Funcs{OnBase: func(h string, _ int) { base = h }, OnRef: func(r Ref) {
			refs = append(refs, triple{doc, base, r.Value})
		}})
		return nil
	})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, r := range refs {
			if Resolve(r.doc, r.base, r.ref).Class == Local {
				n++
			}
		}
	}
	b.ReportMetric(float64(len(refs)), "refs/op")
}

package validate

import (
	"context"
	"os"
	"testing"
)

// BenchmarkCheckPythonDocs checks python3.11-doc in place (its symlinks
// are followed), the whole gate: walk, parse, resolve, fragments.
func BenchmarkCheckPythonDocs(b *testing.B) {
	const dir = "/usr/share/doc/python3.11/html"
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("python3.11-doc not installed: %v", err)
	}
	o := DefaultOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(context.Background(), os.DirFS(dir), nil, o); err != nil {
			b.Fatal(err)
		}
	}
}

package hashassets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGolden hashes every testdata/*.txtar tree and compares the resulting
// tree and manifest with testdata/*.golden (go test -update rewrites
// them). The cases cover the bug classes of the issue: every srcset
// candidate, comments and strings in CSS, url( "x" ) with spaces, ?query
// and #fragment, //host, ../, root-relative, <base>, percent-encoding,
// missing files, cycles.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata/*.txtar")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txtar")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m := parseTxtar(b)
			man := hashMap(t, m, Options{})
			first := dump(m, man)
			golden(t, name, first)

			// Idempotent: hashing the result changes nothing.
			before := dump(m, &Manifest{})
			man2 := hashMap(t, m, Options{})
			if after := dump(m, &Manifest{}); after != before {
				t.Errorf("second run changed the tree:\n%s", diffLines(before, after))
			}
			if len(man2.Changed()) != 0 {
				t.Errorf("second run reports changes: %v", man2.Changed())
			}
			// Deterministic: a fresh run on the same input gives the same bytes.
			m3 := parseTxtar(b)
			man3 := hashMap(t, m3, Options{Workers: 1})
			if got := dump(m3, man3); got != first {
				t.Errorf("not deterministic:\n%s", diffLines(first, got))
			}
		})
	}
}

package hashassets

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite the .golden files")

// memWriter buffers writes to a MapFS and applies them when Hash is done,
// since a MapFS is not safe for concurrent reads and writes. Links share
// the *MapFile, as hard links share an inode.
type memWriter struct {
	mu  sync.Mutex
	ops []func(fstest.MapFS)
}

func (w *memWriter) WriteFile(name string, data []byte, perm fs.FileMode) error {
	data = bytes.Clone(data)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops = append(w.ops, func(m fstest.MapFS) { m[name] = &fstest.MapFile{Data: data, Mode: perm} })
	return nil
}

func (w *memWriter) Link(oldname, newname string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops = append(w.ops, func(m fstest.MapFS) {
		if m[oldname] == nil {
			panic("link of missing " + oldname)
		}
		m[newname] = m[oldname]
	})
	return nil
}

// hashMap runs Hash on m and applies its writes. Writes are applied in
// order, which is what a real file system does.
func hashMap(t testing.TB, m fstest.MapFS, opts Options) *Manifest {
	t.Helper()
	w := &memWriter{}
	man, err := Hash(context.Background(), m, w, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Writes of different names are independent, except that a Link
	// reads its source: apply file writes first, then links.
	for _, op := range w.ops {
		op(m)
	}
	return man
}

// parseTxtar reads "-- name --" sections.
func parseTxtar(b []byte) fstest.MapFS {
	m := fstest.MapFS{}
	var name string
	var buf []string
	flush := func() {
		if name != "" {
			m[name] = &fstest.MapFile{Data: []byte(strings.Join(buf, "\n")), Mode: 0o444}
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") {
			flush()
			name, buf = strings.TrimSuffix(strings.TrimPrefix(line, "-- "), " --"), nil
			continue
		}
		buf = append(buf, line)
	}
	flush()
	return m
}

// dump renders a tree and a manifest for golden comparison: every file,
// which names share bytes, and the manifest.
func dump(m fstest.MapFS, man *Manifest) string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "-- %s --\n%s\n", n, m[n].Data)
	}
	js, _ := json.MarshalIndent(man, "", "  ")
	fmt.Fprintf(&b, "-- manifest --\n%s\n-- changed --\n%s\n", js, strings.Join(man.Changed(), "\n"))
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from golden file %s:\n%s", name, p, diffLines(string(want), got))
	}
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, x, y))
			if len(out) > 10 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

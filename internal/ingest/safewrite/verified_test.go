package safewrite

import (
	"os"
	"path/filepath"
	"testing"
)

// ExistingVerified links a live file only if its content still hashes to
// the sha256 asked for: a live file edited in place (same size, so the
// size check of Existing passes) is reported false, nothing is left at
// the name, and the caller can write it.
func TestWriterExistingVerified(t *testing.T) {
	_, live, lm := stageTree(t, Options{}, map[string]string{"a/good.txt": "hello", "a/bad.txt": "world"})
	p := filepath.Join(live, "a/bad.txt")
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("WORLD"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, dir := newWriter(t, Options{LiveDir: live, Live: lm})
	if ok, err := w.ExistingVerified("good.txt", 0o644, sum([]byte("hello"))); err != nil || !ok {
		t.Fatalf("ExistingVerified of an intact live file = %v, %v", ok, err)
	}
	if ok, err := w.ExistingVerified("bad.txt", 0o644, sum([]byte("world"))); err != nil || ok {
		t.Fatalf("ExistingVerified of a live file changed on disk = %v, %v; want false", ok, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "bad.txt")); !os.IsNotExist(err) {
		t.Fatalf("bad.txt left staged after a failed verification: %v", err)
	}
	put(t, w, "bad.txt", 0o644, []byte("world"))
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"good.txt": "hello", "bad.txt": "world"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
	if st := w.Stats(); st.LinkedFiles != 1 || m.Lookup("bad.txt") == nil {
		t.Errorf("stats %+v, manifest entry %+v; want one linked file", st, m.Lookup("bad.txt"))
	}
}

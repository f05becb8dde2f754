package cli

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
)

// TestAdoptVerb: list, status and deploy on a Capistrano root say what it
// is and point at adopt without creating anything; adopt --json imports
// it; list shows each release's original name; rollback --to takes the
// original name.
func TestAdoptVerb(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"20250101000000", "20250102120000"} {
		d := filepath.Join(root, "releases", n)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "index.html"), []byte("<!doctype html><title>"+n+"</title>"), 0o644)
	}
	os.Symlink("releases/20250102120000", filepath.Join(root, "current"))
	src := filepath.Join(t.TempDir(), "site")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>x</title>"), 0o644)
	for _, args := range [][]string{{"list"}, {"status"}, {"deploy", src}} {
		code, _, e := run(t, nil, append([]string{"--root", root}, args...)...)
		if code != api.ExitFailed || !strings.Contains(e, "capistrano layout") || !strings.Contains(e, "releasectl --root "+root+" adopt") {
			t.Errorf("%s: exit %d: %s", args[0], code, e)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "state")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("state/ was created before adoption")
	}
	if code, _, e := run(t, nil, "adopt"); code != api.ExitUsage || !strings.Contains(e, "--root") {
		t.Errorf("adopt without a root: %d %s", code, e)
	}
	code, o, e := run(t, nil, "--root", root, "--json", "adopt")
	var r AdoptResult
	if code != 0 || json.Unmarshal([]byte(o), &r) != nil || r.Schema != api.Schema || r.AdoptReport == nil || r.Live != "v2" || len(r.Releases) != 2 {
		t.Fatalf("adopt: %d %s %s", code, o, e)
	}
	if code, o, _ := run(t, nil, "--root", root, "list"); code != 0 || !strings.Contains(o, "capistrano:20250101000000") {
		t.Errorf("list: %d %s", code, o)
	}
	if code, _, e := run(t, nil, "--root", root, "rollback", "--to", "20250101000000"); code != 0 {
		t.Fatalf("rollback --to NAME: %d %s", code, e)
	}
	if l, _ := os.Readlink(filepath.Join(root, "current")); l != "releases/v1" {
		t.Errorf("current -> %s", l)
	}
	if code, o, _ := run(t, nil, "--root", root, "adopt"); code != 0 || !strings.Contains(o, "nothing to adopt") {
		t.Errorf("second adopt: %d %s", code, o)
	}
}

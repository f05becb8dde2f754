package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The canary verbs from the command line, without a daemon: canary
// SOURCE stages the directory and starts it; the messages and exit
// statuses of resize, a usage error, promote and abort without a canary.
func TestCanaryCommandLine(t *testing.T) {
	root := t.TempDir()
	src := func(body string) string {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "index.html"), []byte("<!doctype html><title>"+body+"</title>"), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if code, _, e := run(t, nil, "--root", root, "deploy", src("one")); code != 0 {
		t.Fatalf("deploy: %d %s", code, e)
	}
	code, out, e := run(t, nil, "--root", root, "canary", src("two"), "--percent", "20")
	if code != 0 || !strings.HasPrefix(out, "canary v2 serves 20% of clients; v1 the others") {
		t.Fatalf("canary SOURCE: %d %q %s", code, out, e)
	}
	if got, _ := os.Readlink(filepath.Join(root, "canary")); got != "releases/v2" {
		t.Fatalf("canary link %q", got)
	}
	if code, out, _ := run(t, nil, "--root", root, "canary", "--percent", "30"); code != 0 || !strings.HasPrefix(out, "canary v2 serves 30%") {
		t.Fatalf("resize: %d %q", code, out)
	}
	if code, _, e := run(t, nil, "--root", root, "canary"); code != 2 || !strings.Contains(e, "canary needs a release") {
		t.Fatalf("canary without arguments: %d %s", code, e)
	}
	if code, out, _ := run(t, nil, "--root", root, "promote"); code != 0 || !strings.HasPrefix(out, "v2 is live for every client (was v1)") {
		t.Fatalf("promote: %d %q", code, out)
	}
	if code, _, e := run(t, nil, "--root", root, "abort"); code != 1 || !strings.Contains(e, "no canary is running") {
		t.Fatalf("abort without a canary: %d %s", code, e)
	}
}

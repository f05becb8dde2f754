package cli

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/cli/full"
	_ "github.com/example/release-agent/config" // registers the full.Backend, as in release-agent ctl
)

// lean makes this test run as releasectl does: without the deploy
// machinery, handing over to a fake release-agent whose command lines it
// records instead of executing them.
func lean(t *testing.T) *[][]string {
	t.Helper()
	helper := filepath.Join(t.TempDir(), "release-agent")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var calls [][]string
	oldExec, oldBackend, oldHelper := execve, backend, S3Helper
	t.Cleanup(func() { execve, backend, S3Helper = oldExec, oldBackend, oldHelper })
	errExec := errors.New("exec'd")
	execve = func(bin string, argv, env []string) error {
		if bin != helper || argv[0] != helper {
			t.Errorf("exec %s %q, want %s", bin, argv, helper)
		}
		calls = append(calls, argv[1:])
		return errExec
	}
	backend = func() *full.Backend { return nil }
	S3Helper = helper // absolute: not beside the test binary, found as is
	return &calls
}

// deployed returns a root with two releases, v2 live.
func deployed(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, body := range []string{"one", "two"} {
		src := filepath.Join(t.TempDir(), "site")
		os.MkdirAll(src, 0o755)
		os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>"+body+"</title>"), 0o644)
		if code, _, e := run(t, nil, "--root", root, "deploy", src, "--no-validate"); code != 0 {
			t.Fatalf("deploy: %d %s", code, e)
		}
	}
	return root
}

// TestHandOver: what releasectl cannot do itself goes, unchanged, to
// release-agent ctl; what it can, it does.
func TestHandOver(t *testing.T) {
	root := deployed(t)
	calls := lean(t)
	for _, args := range [][]string{
		{"--root", root, "deploy", "site.tgz"},
		{"deploy", "site.tgz", "--root", root, "--json", "--keep", "3"},
		{"--root", root, "stage", "s3://bucket/key"},
		{"--root", root, "validate", "v1"},
		{"--site", "www", "rollback"},
		{"list"},
		{"--socket", "/nonexistent", "status", "--json"},
	} {
		*calls = nil
		code, o, e := run(t, nil, args...)
		if len(*calls) != 1 || !slices.Equal((*calls)[0], append([]string{"ctl"}, args...)) {
			t.Errorf("releasectl %q: handed over %q (exit %d, %q %q), want ctl + the same", args, *calls, code, o, e)
		}
	}
	*calls = nil
	for _, args := range [][]string{
		{"--root", root, "list"},
		{"--root", root, "status"},
		{"--root", root, "rollback"},
		{"--root", root, "history"},
		{"--version"},
		{"deploy", "--help"},
		{"--root", root, "deploy"}, // usage error: exit 2 here
		{"--root", root, "frobnicate"},
	} {
		run(t, nil, args...)
	}
	if len(*calls) != 0 {
		t.Errorf("handed over %q", *calls)
	}
	// ssh-command bound to a site hands over the parsed command, bound.
	code, _, e := run(t, map[string]string{"SSH_ORIGINAL_COMMAND": "rollback"}, "ssh-command", "--site", "www", "--config", "/c", "--socket", "/s")
	want := []string{"ctl", "--socket", "/s", "--config", "/c", "--site", "www", "rollback"}
	if len(*calls) != 1 || !slices.Equal((*calls)[0], want) {
		t.Errorf("ssh-command: handed over %q (exit %d %s), want %q", *calls, code, e, want)
	}
	// Without release-agent installed, a clear error, nothing changed.
	S3Helper = "release-agent-that-is-not-installed"
	code, _, e = run(t, nil, "--root", root, "deploy", "x.tgz")
	if code != api.ExitFailed || !strings.Contains(e, "release-agent-that-is-not-installed") {
		t.Errorf("missing helper: exit %d %q", code, e)
	}
}

// TestLeanSameOutput runs every verb releasectl keeps, with and without
// the deploy machinery linked, and wants the same stdout, stderr and exit
// status: the CLI contract does not depend on which program runs it.
func TestLeanSameOutput(t *testing.T) {
	timing := regexp.MustCompile(`switched in [0-9.]+[µnm]?s|"seconds": [0-9.e-]+`)
	type out struct {
		code int
		o, e string
	}
	script := [][]string{
		{"list"}, {"list", "--json"}, {"status"}, {"status", "--json"},
		{"history", "-n", "3"}, {"diff", "v1", "v2"}, {"diff", "v1", "v2", "--json"},
		{"manifest", "v1"}, {"manifest", "v2", "--json"},
		{"rollback"}, {"rollback"}, {"rollback", "--json"}, {"activate", "v2"}, {"activate", "v2", "--json"},
		{"rollback", "--to", "v1", "--reason", "test"}, {"activate", "v9"}, {"activate", "v9", "--json"}, {"activate", "x1"},
		{"pin", "v1"}, {"pin", "v1"}, {"unpin", "v1", "--json"}, {"prune", "--keep", "1", "--dry-run"}, {"prune", "--keep", "1", "--json"},
		{"list"}, {"status", "--json"}, {"history", "--json", "-n", "2"},
	}
	runAll := func(root string) []out {
		var res []out
		for _, args := range script {
			code, o, e := run(t, nil, append([]string{"--root", root}, args...)...)
			o = strings.ReplaceAll(timing.ReplaceAllString(o, "TIME"), root, "ROOT")
			e = strings.ReplaceAll(e, root, "ROOT")
			res = append(res, out{code, o, e})
		}
		return res
	}
	fullRoot := deployed(t)
	leanRoot := deployed(t)
	want := runAll(fullRoot)
	calls := lean(t)
	got := runAll(leanRoot)
	if len(*calls) != 0 {
		t.Fatalf("handed over %q", *calls)
	}
	dates := regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?|"pid": \d+|"uid": \d+|"since": "[^"]*"|/\S*/site\b`)
	for i := range script {
		w, g := want[i], got[i]
		w.o, g.o = dates.ReplaceAllString(w.o, "D"), dates.ReplaceAllString(g.o, "D")
		w.e, g.e = dates.ReplaceAllString(w.e, "D"), dates.ReplaceAllString(g.e, "D")
		if w != g {
			t.Errorf("releasectl %q:\nfull: exit %d\n%s%s\nlean: exit %d\n%s%s", script[i], w.code, w.o, w.e, g.code, g.o, g.e)
		}
	}
}

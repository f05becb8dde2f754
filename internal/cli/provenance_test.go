package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
)

// runIn is run with stdin.
func runIn(t *testing.T, env map[string]string, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	code := Run(context.Background(), args, Env{Stdout: &o, Stderr: &e, Stdin: bytes.NewReader(stdin),
		Getenv: func(k string) string { return env[k] }})
	return code, o.String(), e.String()
}

// TestProvenance: --commit, --message and --meta are recorded and shown
// by list (COMMIT), status, history and --json; bad values are usage
// errors naming the flag that change nothing.
func TestProvenance(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "site")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>x</title>"), 0o644)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--commit", "xyz123"}, `--commit "xyz123": not a commit id`},
		{[]string{"--commit", "abc"}, `--commit "abc"`},
		{[]string{"--meta", "job"}, `--meta "job": want KEY=VALUE`},
		{[]string{"--meta", "Job=1"}, `--meta "Job"`},
		{[]string{"--meta", "job=1", "--meta", "job=2"}, "--meta job given twice"},
		{[]string{"--message", "a\x07b"}, `--message`},
		{[]string{"--message", strings.Repeat("m", 5000)}, "longer than 4096 bytes"},
	} {
		code, _, e := run(t, nil, append([]string{"--root", root, "deploy", src}, tc.args...)...)
		if code != api.ExitUsage || !strings.Contains(e, tc.want) {
			t.Errorf("deploy %q: exit %d, stderr %q; want %d and %q", tc.args, code, e, api.ExitUsage, tc.want)
		}
	}
	if code, o, _ := run(t, nil, "--root", root, "--json", "list"); code != 0 || strings.Contains(o, `"id"`) {
		t.Fatalf("a refused deploy made a release: %s", o)
	}

	env := map[string]string{}
	if code, _, e := run(t, env, "--root", root, "deploy", src, "--commit", "0123456789ABCDEF0123", "-m", "fix the menu\n\nand more",
		"--meta", "job=https://ci.example/42", "--meta", "branch=main"); code != 0 {
		t.Fatalf("deploy: %d %s", code, e)
	}
	if code, _, e := run(t, env, "--root", root, "stage", "--force", src); code != 0 {
		t.Fatalf("stage: %d %s", code, e)
	}
	_, o, _ := run(t, env, "--root", root, "list")
	lines := strings.Split(o, "\n")
	if !strings.Contains(lines[0], "COMMIT") || !strings.Contains(o, " 0123456789 ") || !strings.Contains(lines[1], " - ") {
		t.Errorf("list:\n%s", o)
	}
	_, o, _ = run(t, env, "--root", root, "status")
	if !strings.Contains(o, `built:    commit 0123456789 "fix the menu" branch=main job=https://ci.example/42`) {
		t.Errorf("status:\n%s", o)
	}
	_, o, _ = run(t, env, "--root", root, "history")
	if strings.Count(o, `commit 0123456789 "fix the menu"`) != 2 { // staged, activated
		t.Errorf("history:\n%s", o)
	}
	var h api.HistoryResult
	_, o, _ = run(t, env, "--root", root, "--json", "history")
	if err := json.Unmarshal([]byte(o), &h); err != nil {
		t.Fatal(err)
	}
	if p := h.Events[0].Provenance; p == nil || p.Commit != "0123456789abcdef0123" || p.Message != "fix the menu\n\nand more" || p.Meta["job"] != "https://ci.example/42" {
		t.Errorf("history --json: first event %+v", h.Events[0])
	}
	var st api.StatusResult
	_, o, _ = run(t, env, "--root", root, "--json", "status")
	if err := json.Unmarshal([]byte(o), &st); err != nil || st.Current.Provenance.Short() != "0123456789" {
		t.Errorf("status --json: %v\n%s", err, o)
	}
}

// TestDeployStdin: `deploy -` takes tar, tar.gz, tar.zst and zip on
// standard input, known by their first bytes, records the format, and
// refuses a hostile archive as it would a file, changing nothing.
func TestDeployStdin(t *testing.T) {
	root := t.TempDir()
	testdata := filepath.Join("..", "ingest", "archive", "testdata")
	for i, name := range []string{"happy.tar", "happy.tar.gz", "happy.tar.zst", "happy.zip"} {
		b, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		code, o, e := runIn(t, nil, b, "--root", root, "--json", "deploy", "-", "--no-validate", "--force", "--commit", "abcd")
		if code != 0 {
			t.Fatalf("deploy - < %s: exit %d\n%s", name, code, e)
		}
		var r api.DeployResult
		if err := json.Unmarshal([]byte(o), &r); err != nil {
			t.Fatal(err)
		}
		kind := "stream:" + strings.TrimPrefix(name, "happy.")
		if r.Release.ID != "v"+string(rune('1'+i)) || r.Release.Source.Kind != kind || r.Release.Source.Spec != "-" ||
			r.Release.Source.Meta["from"] != "stdin" || r.Release.Provenance.Short() != "abcd" {
			t.Errorf("deploy - < %s: release %+v", name, r.Release.Record)
		}
	}
	for _, name := range []string{"traversal.tar", "symlink-escape.zip"} {
		b, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		code, _, e := runIn(t, nil, b, "--root", root, "deploy", "-", "--no-validate", "--force")
		if code != api.ExitFailed {
			t.Errorf("deploy - < %s: exit %d, want %d\n%s", name, code, api.ExitFailed, e)
		}
		if cur, _ := os.Readlink(filepath.Join(root, "current")); cur != "releases/v4" {
			t.Errorf("current -> %s after a refused deploy -", cur)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(root, "state", "staging")); len(left) != 0 {
		t.Errorf("staging area not empty: %v", left)
	}
}

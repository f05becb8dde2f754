package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
)

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	code := Run(context.Background(), args, Env{Stdout: &o, Stderr: &e, Getenv: func(k string) string { return env[k] }})
	return code, o.String(), e.String()
}

func TestSplitVerb(t *testing.T) {
	for _, tc := range []struct {
		args []string
		verb string
		rest string
	}{
		{[]string{"--root", "R", "--json", "list"}, "list", "--root R --json"},
		{[]string{"list", "--root", "R", "--json"}, "list", "--root R --json"},
		{[]string{"--root=R", "deploy", "x.tgz", "--keep", "3"}, "deploy", "--root=R x.tgz --keep 3"},
		{[]string{"--wait", "5s", "rollback", "--to", "v3"}, "rollback", "--wait 5s --to v3"},
		{[]string{"--json"}, "", "--json"},
	} {
		v, rest := splitVerb(tc.args)
		if v != tc.verb || strings.Join(rest, " ") != tc.rest {
			t.Errorf("splitVerb(%q) = %q, %q; want %q, %q", tc.args, v, rest, tc.verb, tc.rest)
		}
	}
}

func TestSSHCommand(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "site")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>x</title>"), 0o644)
	if code, _, e := run(t, nil, "--root", root, "deploy", src); code != 0 {
		t.Fatalf("deploy: %d %s", code, e)
	}
	for _, tc := range []struct {
		orig string
		code int
		want string
	}{
		{"releasectl status", 0, "current:  v1"},
		{"list --json", 0, `"schema": 1`},
		{"deploy /tmp/x.tgz", api.ExitUsage, "not allowed"},
		{"status; rm -rf /", api.ExitUsage, "shell metacharacters"},
		{"status --root /etc", api.ExitUsage, "bound to its site"},
		{"", api.ExitUsage, "SSH_ORIGINAL_COMMAND"},
	} {
		code, o, e := run(t, map[string]string{"SSH_ORIGINAL_COMMAND": tc.orig}, "ssh-command", "--root", root)
		if code != tc.code || !strings.Contains(o+e, tc.want) {
			t.Errorf("SSH_ORIGINAL_COMMAND=%q: exit %d, out %q err %q; want %d and %q", tc.orig, code, o, e, tc.code, tc.want)
		}
	}
	// --allow +deploy lets the key deploy (new content: the same would be "already live")
	os.WriteFile(filepath.Join(src, "news.html"), []byte("<!doctype html><title>news</title>"), 0o644)
	code, o, e := run(t, map[string]string{"SSH_ORIGINAL_COMMAND": "deploy " + src}, "ssh-command", "--root", root, "--allow", "+deploy")
	if code != 0 || strings.TrimSpace(o) != "v2" {
		t.Fatalf("allowed deploy: %d %q %q", code, o, e)
	}
	// --allow-stdin lets it deploy an archive on standard input, and
	// nothing else.
	// A small site that passes validation (the key cannot skip it).
	var tb bytes.Buffer
	zw := gzip.NewWriter(&tb)
	tw := tar.NewWriter(zw)
	page := []byte("<!doctype html><title>from stdin</title><p>over ssh")
	tw.WriteHeader(&tar.Header{Name: "index.html", Mode: 0o644, Size: int64(len(page)), Typeflag: tar.TypeReg})
	tw.Write(page)
	tw.Close()
	zw.Close()
	tarball := tb.Bytes()
	for _, tc := range []struct {
		orig  string
		flags []string
		code  int
		want  string
	}{
		{"releasectl deploy - --no-validate --commit abc123", nil, api.ExitUsage, "not allowed"},
		{"releasectl deploy - --no-validate --commit abc123", []string{"--allow-stdin"}, api.ExitUsage, "validated releases only"},
		{"releasectl deploy - --commit abc123", []string{"--allow-stdin"}, 0, "v3"},
		{"releasectl stage --commit abc124 --force -", []string{"--allow-stdin"}, 0, "v4"},
		{"releasectl deploy --commit abc125 " + src, []string{"--allow-stdin"}, api.ExitUsage, "only 'deploy -'"},
		{"releasectl deploy --sha256 - " + src, []string{"--allow-stdin"}, api.ExitUsage, "only 'deploy -'"},
		{"releasectl deploy s3://b/k.tgz", []string{"--allow-stdin"}, api.ExitUsage, "only 'deploy -'"},
		{"releasectl activate v4", []string{"--allow-stdin"}, api.ExitUsage, "not allowed"},
		{"releasectl deploy --no-validate --force " + src, []string{"--allow-stdin", "--allow", "+deploy"}, 0, "v5"},
	} {
		code, o, e := runIn(t, map[string]string{"SSH_ORIGINAL_COMMAND": tc.orig}, tarball, append([]string{"ssh-command", "--root", root}, tc.flags...)...)
		if code != tc.code || !strings.Contains(o+e, tc.want) {
			t.Errorf("ssh-command %q with %q: exit %d, out %q err %q; want %d and %q", tc.flags, tc.orig, code, o, e, tc.code, tc.want)
		}
	}
}

// TestFail: errors are one "releasectl: ..." line (usage errors point to
// --help, an interrupted run says nothing changed), or with --json one
// JSON object on stderr, with the exit status of the contract.
func TestFail(t *testing.T) {
	for _, tc := range []struct {
		err    error
		json   bool
		code   int
		stderr string
	}{
		{api.Usagef("bad flag"), false, api.ExitUsage, "releasectl: usage error: bad flag\nrun releasectl --help for usage\n"},
		{context.Canceled, false, api.ExitFailed, "releasectl: interrupted; nothing was changed\n"},
		{api.Usagef("bad flag"), true, api.ExitUsage, "{\n  \"schema\": 1,\n  \"code\": \"usage\",\n  \"message\": \"usage error: bad flag\",\n  \"exit\": 2\n}\n"},
	} {
		var e bytes.Buffer
		if code := Fail(&e, tc.err, tc.json); code != tc.code || e.String() != tc.stderr {
			t.Errorf("Fail(%v, json %v) = %d %q, want %d %q", tc.err, tc.json, code, e.String(), tc.code, tc.stderr)
		}
	}
}

// TestVersion: --version prints the main's version.
func TestVersion(t *testing.T) {
	var o bytes.Buffer
	if code := Run(context.Background(), []string{"--version"}, Env{Stdout: &o, Stderr: &o, Version: "1.2.3"}); code != 0 || o.String() != "releasectl 1.2.3\n" {
		t.Errorf("--version: %d %q", code, o.String())
	}
}

func TestFsckExit(t *testing.T) {
	root := t.TempDir()
	if code, out, errOut := run(t, nil, "--root", root, "fsck"); code != 0 || !strings.Contains(out, "no problems") {
		t.Fatalf("fsck of an empty store: %d %q %q", code, out, errOut)
	}
	os.MkdirAll(filepath.Join(root, "state", "staging", "v3"), 0o755)
	if code, out, _ := run(t, nil, "--root", root, "fsck"); code != api.ExitFailed || !strings.Contains(out, "leftover") {
		t.Fatalf("fsck with a leftover: %d %q", code, out)
	}
	if code, out, _ := run(t, nil, "--root", root, "--json", "fsck", "--repair"); code != 0 || !strings.Contains(out, `"clean": true`) {
		t.Fatalf("fsck --repair --json: %d %q", code, out)
	}
}

// TestFlagValueRefusals: values the flag parser accepts but that mean
// nothing are usage errors (exit 2) naming the flag, before any work.
func TestFlagValueRefusals(t *testing.T) {
	root := t.TempDir()
	src := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", src, "--sha256", "nothex"}, "--sha256"},
		{[]string{"deploy", src, "--sha256", strings.Repeat("g", 64)}, "--sha256"},
		{[]string{"deploy", src, "--timeout", "0"}, "--timeout"},
		{[]string{"deploy", src, "--timeout", "-1s"}, "--timeout"},
	} {
		code, _, e := run(t, nil, append([]string{"--root", root}, tc.args...)...)
		if code != api.ExitUsage || !strings.Contains(e, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d naming %s", tc.args, code, e, api.ExitUsage, tc.want)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "releases")); len(ents) > 0 {
		t.Errorf("a refused command made releases: %v", ents)
	}
}

// TestJSONHelp: --json promises one JSON document on stdout, help included.
func TestJSONHelp(t *testing.T) {
	for _, args := range [][]string{{"--json", "--help"}, {"deploy", "--help", "--json"}, {"help", "list", "--json"}} {
		code, o, e := run(t, nil, args...)
		var doc HelpResult
		dec := json.NewDecoder(strings.NewReader(o))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil || code != 0 || doc.Schema != api.Schema || !strings.Contains(doc.Help, "releasectl") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q (%v); want a help document", args, code, o, e, err)
		}
		if dec.More() {
			t.Errorf("%q: more than one document on stdout: %q", args, o)
		}
	}
	if code, o, _ := run(t, nil, "--help"); code != 0 || !strings.HasPrefix(o, "releasectl: ") {
		t.Errorf("--help without --json: exit %d, %q; want the text", code, o)
	}
}

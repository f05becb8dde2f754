package switchcmd_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/internal/cli"
	"github.com/example/release-agent/internal/cli/switchcmd"
	_ "github.com/example/release-agent/internal/config" // the full CLI's backend, as in release-agent ctl
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want switchcmd.Command
	}{
		{[]string{"--root", "/r", "rollback"}, switchcmd.Command{Verb: "rollback", Root: "/r"}},
		{[]string{"rollback", "--root=/r", "--json"}, switchcmd.Command{Verb: "rollback", Root: "/r", JSON: true}},
		{[]string{"--json", "--root", "/r", "--wait", "5s", "rollback", "--to", "v3", "--reason", "bad css"},
			switchcmd.Command{Verb: "rollback", Root: "/r", ID: "v3", Reason: "bad css", Wait: 5 * time.Second, JSON: true}},
		{[]string{"--root", "/r", "activate", "v7"}, switchcmd.Command{Verb: "activate", Root: "/r", ID: "v7"}},
		{[]string{"activate", "--wait=1m", "v7", "--root", "/r"}, switchcmd.Command{Verb: "activate", Root: "/r", ID: "v7", Wait: time.Minute}},
		// Ids are checked by the store, as in the full CLI.
		{[]string{"--root", "/r", "activate", "x1"}, switchcmd.Command{Verb: "activate", Root: "/r", ID: "x1"}},
	} {
		got, ok := switchcmd.Parse(tc.args)
		if !ok || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.args, got, ok, tc.want)
		}
	}
}

// TestParseDeclines: everything but a well-formed switch on a --root store
// is for release-agent ctl, including every malformed command line, so
// that one program explains them all.
func TestParseDeclines(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"rollback"},                  // no --root: the daemon or the configuration
		{"--site", "www", "rollback"}, // ditto
		{"--root", "/r", "--site", "www", "rollback"}, // a usage error to explain
		{"--root", "/r", "list"},
		{"--root", "/r", "deploy", "x.tgz"},
		{"--root", "/r"},
		{"--root", "/r", "rollback", "v3"},         // rollback takes no argument
		{"--root", "/r", "activate"},               // activate needs one
		{"--root", "/r", "activate", "v1", "v2"},   // and only one
		{"--root", "/r", "activate", "--to", "v1"}, // --to is rollback's
		{"--root", "/r", "activate", "v1", "--reason", "x"},
		{"--root", "/r", "rollback", "--help"},
		{"--root", "/r", "rollback", "-h"},
		{"--root", "/r", "--version", "rollback"},
		{"--root", "/r", "rollback", "--to"},  // no value
		{"--root", "/r", "rollback", "--to="}, // empty value
		{"--root=", "rollback"},               // empty root
		{"--root", "--json", "rollback"},      // a value that looks like a flag
		{"--root", "/r", "rollback", "--wait", "soon"},
		{"--root", "/r", "rollback", "--wait", "-1s"},
		{"--root", "/r", "--root", "/s", "rollback"}, // repeated
		{"--root", "/r", "rollback", "--json", "--json"},
		{"--root", "/r", "rollback", "--json=false"},
		{"--root", "/r", "rollback", "--frobnicate"},
		{"--root", "/r", "--", "rollback"},
		{"--root", "/r", "rollback", "-"},
		{"--root", "/r", "ssh-command"},
	} {
		if c, ok := switchcmd.Parse(args); ok {
			t.Errorf("Parse(%q) accepted %+v; it is release-agent ctl's", args, c)
		}
	}
}

// deployed returns a release root with v1 and v2, v2 live, deployed by
// the full CLI.
func deployed(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, body := range []string{"one", "two"} {
		src := filepath.Join(t.TempDir(), "site")
		os.MkdirAll(src, 0o755)
		os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>"+body+"</title>"), 0o644)
		var o, e bytes.Buffer
		if code := cli.Run(context.Background(), []string{"--root", root, "deploy", src, "--no-validate"}, cli.Env{Stdout: &o, Stderr: &e}); code != 0 {
			t.Fatalf("deploy: exit %d %s", code, e.String())
		}
	}
	return root
}

// TestSameAsFullCLI runs a script of switches through this package on one
// store and through the full CLI (release-agent ctl) on an identical one,
// and wants the same stdout, stderr and exit status from each step: which
// program runs a command line is not part of the contract.
func TestSameAsFullCLI(t *testing.T) {
	script := [][]string{
		{"rollback"}, {"rollback"}, {"rollback", "--json"}, {"activate", "v2"}, {"activate", "v2", "--json"},
		{"rollback", "--to", "v1", "--reason", "test"}, {"rollback", "--to=v2", "--wait", "2s"},
		{"activate", "v9"}, {"activate", "v9", "--json"}, {"activate", "x1"}, {"activate", "x1", "--json"},
		{"rollback", "--to", "v2"}, {"rollback", "--to", "v2", "--json"}, {"activate", "v1"},
	}
	timing := regexp.MustCompile(`switched in [0-9.]+[µnm]?s|"seconds": [0-9.e-]+`)
	type out struct {
		code int
		o, e string
	}
	norm := func(root string, code int, o, e string) out {
		o = strings.ReplaceAll(timing.ReplaceAllString(o, "TIME"), root, "ROOT")
		return out{code, o, strings.ReplaceAll(e, root, "ROOT")}
	}
	fullRoot, fastRoot := deployed(t), deployed(t)
	for _, args := range script {
		var fo, fe bytes.Buffer
		fcode := cli.Run(context.Background(), append([]string{"--root", fullRoot}, args...), cli.Env{Stdout: &fo, Stderr: &fe})
		want := norm(fullRoot, fcode, fo.String(), fe.String())

		c, ok := switchcmd.Parse(append([]string{"--root", fastRoot}, args...))
		if !ok {
			t.Fatalf("Parse declined %q", args)
		}
		var o, e bytes.Buffer
		code := switchcmd.Run(context.Background(), c, &o, &e)
		got := norm(fastRoot, code, o.String(), e.String())
		if got != want {
			t.Errorf("releasectl %q:\nrelease-agent ctl: exit %d\n%s%s\nreleasectl: exit %d\n%s%s", args, want.code, want.o, want.e, got.code, got.o, got.e)
		}
	}
	// Both stores went through the same states.
	for _, root := range []string{fullRoot, fastRoot} {
		if l, _ := os.Readlink(filepath.Join(root, "current")); l != "releases/v1" {
			t.Errorf("%s/current -> %q, want releases/v1", root, l)
		}
	}
}

// TestHandOver: HandOver execs `Helper ctl` with the command line as it
// was, and without Helper installed it says what is missing.
func TestHandOver(t *testing.T) {
	helper := filepath.Join(t.TempDir(), "release-agent")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var got []string
	errExec := errors.New("exec'd")
	defer switchcmd.SetExecve(func(bin string, argv, env []string) error {
		if bin != helper {
			t.Errorf("exec %s, want %s", bin, helper)
		}
		got = argv
		return errExec
	})()
	oldHelper := switchcmd.Helper
	defer func() { switchcmd.Helper = oldHelper }()

	switchcmd.Helper = helper
	args := []string{"--root", "/r", "list", "--json"}
	if err := switchcmd.HandOver(args); !errors.Is(err, errExec) {
		t.Fatalf("HandOver: %v", err)
	}
	if want := append([]string{helper, "ctl"}, args...); !slices.Equal(got, want) {
		t.Errorf("exec argv %q, want %q", got, want)
	}

	// Found on PATH when it is not beside the test binary.
	switchcmd.Helper = "release-agent"
	t.Setenv("PATH", "relative/dir:"+filepath.Dir(helper))
	got = nil
	if err := switchcmd.HandOver(args); !errors.Is(err, errExec) || len(got) == 0 {
		t.Fatalf("HandOver via PATH: %v %q", err, got)
	}

	switchcmd.Helper = "release-agent-that-is-not-installed"
	err := switchcmd.HandOver(args)
	if err == nil || !strings.Contains(err.Error(), "release-agent-that-is-not-installed") {
		t.Errorf("missing helper: %v", err)
	}
	var e bytes.Buffer
	if code := switchcmd.Fail(&e, err, false, nil); code != 1 || !strings.HasPrefix(e.String(), "releasectl: this needs release-agent-that-is-not-installed") {
		t.Errorf("missing helper: exit %d %q", code, e.String())
	}
}

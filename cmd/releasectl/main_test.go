package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// TestInterruptWhileWaiting: SIGINT while releasectl waits (--wait) for
// another writer's lock ends it with exit 1 and "nothing was changed".
// The test signals once releasectl's stderr says that it waits: the
// signals are armed before main runs the verb, so that line is the
// moment to wait for, and nothing is read from /proc.
func TestInterruptWhileWaiting(t *testing.T) {
	_, bin := testenv.Binaries(t)
	root := t.TempDir()
	s, err := releases.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := s.Lock(context.Background(), 0, releases.Who{User: "test"}, "holding")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	cmd := exec.Command(bin, "--root", root, "--wait", "30s", "rollback")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		said := false
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if !said && strings.Contains(sc.Text(), "waiting up to 30s for the lock held by pid") {
				said = true
				close(waiting)
			}
		}
		io.Copy(&stderr, pipe)
	}()
	select {
	case <-waiting:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done // stderr is the reader's no more
		t.Fatalf("releasectl never said it was waiting for the lock; stderr %q", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	<-done // stderr is the reader's no more
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "releasectl: interrupted; nothing was changed") {
		t.Fatalf("after SIGINT: %v, stderr %q", err, stderr.String())
	}
	if _, err := os.Lstat(filepath.Join(root, "current")); !os.IsNotExist(err) {
		t.Fatalf("current appeared: %v", err)
	}
}

// TestAlone runs the built releasectl on its own: copied into an empty
// directory, with a PATH that holds no release-agent, so that nothing can
// be handed to another program. Every verb works, with the exit codes of
// the contract.
func TestAlone(t *testing.T) {
	_, built := testenv.Binaries(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "releasectl")
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	root := t.TempDir()
	site := func(title string) string {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, "index.html"), []byte(`<!doctype html><title>`+title+`</title><link rel="stylesheet" href="s.css"><a href="missing.html">x</a>`), 0o644)
		os.WriteFile(filepath.Join(d, "s.css"), []byte("body{color:red}"), 0o644)
		return d
	}
	one, two := site("one"), site("two")
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, "index.html"), []byte(`<!doctype html><img src="nope.png">`), 0o644)
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{[]string{"--help"}, 0, "Usage:\n  releasectl [--root DIR", ""},
		{[]string{}, 2, "Verbs:", ""},
		{[]string{"frobnicate"}, 2, "", `unknown verb "frobnicate"`},
		{[]string{"--root", root, "deploy", one, "--no-validate"}, 0, "v1\n", "v1 is live"},
		{[]string{"--root", root, "deploy", two, "--no-validate"}, 0, "v2\n", "v2 is live (was v1)"},
		{[]string{"--root", root, "list"}, 0, "* v2", ""},
		{[]string{"--root", root, "rollback"}, 0, "v1 is live (was v2)", ""},
		{[]string{"--root", root, "rollback", "--json"}, 1, "", `"code": "not_found"`},
		{[]string{"--root", root, "activate", "x1"}, 2, "", "run releasectl --help for usage"},
		{[]string{"--root", root, "validate", one}, 0, "", ""},
		{[]string{"--root", root, "validate", broken}, 3, "", "rejected by validation"},
		{[]string{"--root", root, "deploy", filepath.Join(empty, "nothing.tar.gz")}, 1, "", "releasectl: "},
		{[]string{"--version"}, 0, "releasectl ", ""},
		// s3:// without a daemon needs release-agent fetch-source, and says so.
		{[]string{"--root", root, "deploy", "s3://bucket/site.tar.gz"}, 1, "", "needs release-agent"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Dir = empty
		cmd.Env = []string{"PATH=" + empty, "HOME=" + empty}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(o.String(), tc.stdout) || !strings.Contains(e.String(), tc.stderr) {
			t.Errorf("releasectl %q: exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", tc.args, code, tc.code, o.String(), tc.stdout, e.String(), tc.stderr)
		}
	}
}

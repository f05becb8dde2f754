package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
)

// TestDeployStdinOverSSH: `tar -C public -cz . | ssh -p PORT 127.0.0.1
// releasectl deploy - --commit abc123` through a real sshd makes a
// release whose `history --json` shows the commit and the SSH client,
// with release-agent running; a key restricted to `releasectl
// ssh-command` may do the same only with --allow-stdin, and then only
// from standard input.
func TestDeployStdinOverSSH(t *testing.T) {
	agent, ctlPath := testenv.Binaries(t)
	tarBin := testenv.Command(t, "tar")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	root := filepath.Join(dir, "www")
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	write(t, cfg, fmt.Sprintf("[daemon]\ncontrol_socket = %q\n[[site]]\nname = \"www\"\nroot = %q\n", sock, root))
	startDaemon(t, agent, cfg, sock)

	// The host's PATH: a releasectl talking to this test's daemon.
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	write(t, filepath.Join(bin, "releasectl"), fmt.Sprintf("#!/bin/sh\nexec %s --socket %s \"$@\"\n", ctlPath, sock))
	os.Chmod(filepath.Join(bin, "releasectl"), 0o755)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{PATH: bin + ":/usr/bin:/bin"})
	plain := sshd.Key("")
	restricted := sshd.Key(`restrict,command="releasectl ssh-command --site www"`)
	stdinKey := sshd.Key(`restrict,command="releasectl ssh-command --site www --allow-stdin"`)

	public := filepath.Join(dir, "public")
	site := func(title string) {
		write(t, filepath.Join(public, "index.html"), `<!doctype html><title>`+title+`</title><a href="/about.html">about</a>`)
		write(t, filepath.Join(public, "about.html"), `<!doctype html><title>about</title><a href="/">home</a>`)
	}
	// deploy runs `tar -C public -cz . | ssh ... REMOTE` as a shell would.
	deploy := func(key string, remote ...string) (int, string, string) {
		t.Helper()
		ssh := sshd.Command(key, remote...)
		pipe := fmt.Sprintf("%s -C %s -cz . | %s", tarBin, public, shellJoin(ssh.Args))
		cmd := exec.Command("/bin/sh", "-c", pipe)
		return runCmd(t, cmd)
	}
	remote := func(key string, remote ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, sshd.Command(key, remote...))
	}
	live := func() string {
		t.Helper()
		l, _ := os.Readlink(filepath.Join(root, "current"))
		return strings.TrimPrefix(l, "releases/")
	}

	// The plain key: the command line.
	site("one")
	code, out, errs := deploy(plain, "releasectl", "deploy", "-", "--commit", "abc123", "--meta", "job=42")
	if code != 0 || strings.TrimSpace(out) != "v1" || live() != "v1" {
		t.Fatalf("tar | ssh releasectl deploy -: exit %d, live %q\nstdout: %s\nstderr: %s", code, live(), out, errs)
	}
	code, out, errs = remote(plain, "releasectl", "--json", "history")
	if code != 0 {
		t.Fatalf("ssh releasectl --json history: exit %d\n%s%s", code, out, errs)
	}
	var h api.HistoryResult
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	var staged, activated *releases.Event
	for i, ev := range h.Events {
		switch {
		case ev.Release == "v1" && ev.Event == releases.EvStaged:
			staged = &h.Events[i]
		case ev.Release == "v1" && ev.Event == releases.EvActivated:
			activated = &h.Events[i]
		}
	}
	for _, ev := range []*releases.Event{staged, activated} {
		if ev == nil {
			t.Fatalf("history has no staged and activated events of v1:\n%s", out)
		}
		if ev.Provenance == nil || ev.Provenance.Commit != "abc123" || ev.Provenance.Meta["job"] != "42" {
			t.Errorf("%s event: provenance %+v, want commit abc123 and job=42", ev.Event, ev.Provenance)
		}
		// sshd's SSH_CLIENT: "127.0.0.1 CLIENT_PORT SERVER_PORT", sent by
		// releasectl to the daemon, which took the uid from the socket.
		if f := strings.Fields(ev.Who.SSHClient); len(f) != 3 || f[0] != "127.0.0.1" || f[2] != fmt.Sprint(sshd.Port) || ev.Who.UID != os.Getuid() || ev.Who.Via != "control" {
			t.Errorf("%s event: who %+v, want uid %d via control from ssh client 127.0.0.1 (port %d)", ev.Event, ev.Who, os.Getuid(), sshd.Port)
		}
	}
	code, out, _ = remote(plain, "releasectl", "list")
	if code != 0 || !strings.Contains(out, "COMMIT") || !strings.Contains(out, " abc123 ") {
		t.Errorf("ssh releasectl list: exit %d\n%s", code, out)
	}

	// A restricted key without --allow-stdin may not deploy.
	site("two")
	code, out, errs = deploy(restricted, "releasectl", "deploy", "-", "--commit", "abc124")
	if code != api.ExitUsage || !strings.Contains(errs, "not allowed") || live() != "v1" {
		t.Fatalf("restricted key, deploy -: exit %d, live %s\n%s%s", code, live(), out, errs)
	}
	// With --allow-stdin it may, from standard input only.
	code, out, errs = deploy(stdinKey, "releasectl", "deploy", "-", "--commit", "abc125", "--message=hotfix")
	if code != 0 || strings.TrimSpace(out) != "v2" || live() != "v2" {
		t.Fatalf("--allow-stdin key, deploy -: exit %d, live %s\n%s%s", code, live(), out, errs)
	}
	code, out, errs = remote(stdinKey, "releasectl", "deploy", public)
	if code != api.ExitUsage || !strings.Contains(errs, "only 'deploy -'") || live() != "v2" {
		t.Fatalf("--allow-stdin key, deploy PATH: exit %d, live %s\n%s%s", code, live(), out, errs)
	}
	st, err := releases.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Record("v2")
	if err != nil {
		t.Fatal(err)
	}
	if p := rec.Provenance; p == nil || p.Commit != "abc125" || p.Message != "hotfix" || !strings.HasPrefix(rec.Who.SSHClient, "127.0.0.1 ") ||
		rec.Source.Spec != "-" || rec.Source.Kind != "stream:tar.gz" || rec.Source.Meta["from"] != "stdin" {
		t.Errorf("record of v2: %+v", rec)
	}
	// v2 is in the store and nothing is left half-done.
	if _, err := os.Stat(filepath.Join(root, "releases", "v3")); err == nil {
		t.Error("a refused deploy left a release tree")
	}
}

// startDaemon runs release-agent --config cfg until the test ends and
// waits until its control socket answers.
func startDaemon(t *testing.T, agent, cfg, sock string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(agent, "--config", cfg)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", stderr.String())
		}
	})
	c := &client.Client{Socket: sock}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Ping(context.Background()); err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("release-agent exited:\n%s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("release-agent does not answer on %s after 30s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runCmd runs cmd and returns its exit status, stdout and stderr.
func runCmd(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, o.String(), e.String()
}

// shellJoin quotes args for /bin/sh.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

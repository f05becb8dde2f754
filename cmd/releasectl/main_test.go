package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/releases"
)

// TestInterruptWhileWaiting: SIGINT while releasectl waits for another
// writer's lock ends it with exit 1 and "nothing was changed", although
// the signals are only armed when it starts waiting.
func TestInterruptWhileWaiting(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "releasectl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
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
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--root", root, "--wait", "30s", "rollback")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Signal once it waits: it arms SIGINT only then (see signalContext).
	deadline := time.Now().Add(10 * time.Second)
	for !waitsForLock(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("releasectl never started catching SIGINT while waiting for the lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted; nothing was changed") {
		t.Fatalf("after SIGINT: %v, stderr %q", err, stderr.String())
	}
	if _, err := os.Lstat(filepath.Join(root, "current")); !os.IsNotExist(err) {
		t.Fatalf("current appeared: %v", err)
	}
}

// waitsForLock reports whether process pid has the store's lock file open
// and all its threads asleep: between opening the lock and waiting on the
// context (which arms the signals) it never sleeps, so it is then waiting.
func waitsForLock(pid int) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	open := false
	for _, fd := range fds {
		if l, _ := os.Readlink(fd); strings.HasSuffix(l, "/state/lock") {
			open = true
		}
	}
	if !open {
		return false
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			return false
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		_, rest, ok := strings.Cut(string(b[bytes.LastIndexByte(b, ')')+1:]), " ")
		if !ok || !strings.HasPrefix(rest, "S") {
			return false
		}
	}
	return len(tasks) > 0
}

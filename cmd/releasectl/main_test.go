package main

import (
	"bytes"
	"context"
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
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted; nothing was changed") {
		t.Fatalf("after SIGINT: %v, stderr %q", err, stderr.String())
	}
	if _, err := os.Lstat(filepath.Join(root, "current")); !os.IsNotExist(err) {
		t.Fatalf("current appeared: %v", err)
	}
}

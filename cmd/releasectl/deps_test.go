package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies states what releasectl links. It is one program with
// one parser for every verb, a client of the daemon and, without one, the
// deploy machinery itself (extraction, hashing, validation, S3 sources):
// those it must link. What it must not link is the daemon's: the daemon
// package and its control server, triggers, metrics (prometheus) and
// systemd (go-systemd), nor the second parser and hand-over it used to
// have (cli/switchcmd, cli/full). Its start-up is part of every
// rollback's, timed as a whole process.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list -deps returned %d packages", len(deps))
	}
	const ra = "github.com/example/release-agent/"
	banned := []string{
		"github.com/prometheus/", "github.com/coreos/go-systemd/",
		ra + "internal/daemon", // and internal/daemon/control, internal/daemon/trigger
		ra + "internal/cli/switchcmd", ra + "internal/cli/full", ra + "internal/storesvc",
		ra + "internal/testutil",
	}
	for _, dep := range deps {
		for _, bad := range banned {
			if dep == strings.TrimSuffix(bad, "/") || strings.HasPrefix(dep, strings.TrimSuffix(bad, "/")+"/") {
				t.Errorf("releasectl depends on %s", dep)
			}
		}
	}
	// What it does link, so that this test fails if the list above is
	// satisfied by accident (a broken go list).
	for _, need := range []string{ra + "internal/cli", ra + "internal/service", ra + "client"} {
		found := false
		for _, dep := range deps {
			found = found || dep == need
		}
		if !found {
			t.Errorf("releasectl does not link %s", need)
		}
	}
}

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: the daemon does not link releasectl's command line
// (internal/cli): `release-agent ctl` is gone, releasectl is the one CLI.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list -deps returned %d packages", len(deps))
	}
	for _, dep := range deps {
		if dep == "github.com/example/release-agent/internal/cli" || strings.HasPrefix(dep, "github.com/example/release-agent/internal/cli/") {
			t.Errorf("release-agent depends on %s", dep)
		}
	}
}

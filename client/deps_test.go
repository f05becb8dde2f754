package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the client light: releasectl links it, and it
// must not pull in the daemon, its server, S3 or metrics.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps returned %d packages", len(deps))
	}
	for _, d := range deps {
		for _, banned := range []string{
			"github.com/example/release-agent/internal/daemon",
			"github.com/example/release-agent/internal/daemon/control",
			"github.com/example/release-agent/internal/service",
			"github.com/example/release-agent/internal/deploy",
			"github.com/example/release-agent/internal/daemon/trigger",
			"github.com/prometheus/",
			"github.com/minio/",
			"github.com/coreos/",
		} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("package client depends on %s", d)
			}
		}
	}
}

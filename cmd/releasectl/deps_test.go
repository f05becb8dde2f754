package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies states what releasectl links. It is one program with
// one parser for every verb, a client of the daemon and, without one, the
// deploy machinery itself (extraction, hashing, validation): those it
// must link. Its start-up is part of every rollback's, timed as a whole
// process, with a budget of 4x `mv -T` (p50).
//
// Banned:
//   - the daemon's: the daemon package and its control server and
//     triggers, metrics (prometheus), systemd (go-systemd);
//   - the second parser and the hand-over it used to have (cli/switchcmd,
//     cli/full, storesvc);
//   - minio-go. Its package initialisation (pkg/s3utils compiles a dozen
//     regular expressions) made rollback too slow: measured interleaved,
//     300 rounds after 20 warm-ups, CGO_ENABLED=0 -trimpath -s -w, on a
//     noisy 2-core VM, rollback p50 was 4.08x mv -T (user+sys 4.77x) with
//     minio-go linked and 3.39x (user+sys 3.96x) without. So s3:// sources
//     without a daemon are fetched by `release-agent fetch-source`
//     (package fetchexec) and extracted by releasectl.
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
		ra + "internal/testutil", ra + "internal/ingest/s3", "github.com/minio/",
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

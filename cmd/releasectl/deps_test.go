package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDaemonDependencies keeps daemon-only and S3 packages out of
// releasectl: they cost startup time (minio-go's init alone is about 2 ms)
// on every rollback. s3:// deploys without a daemon go through
// `release-agent ctl` (cli.S3Helper).
func TestNoDaemonDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, bad := range []string{"github.com/minio/minio-go", "github.com/prometheus/", "github.com/coreos/go-systemd",
		"release-agent/daemon", "release-agent/source/s3", "release-agent/trigger"} {
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("releasectl depends on %s", dep)
			}
		}
	}
}

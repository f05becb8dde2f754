package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLean keeps releasectl to what the switch and the read verbs need
// (the store, carry-over, the documents, flags): its start-up time is part
// of every rollback's. Everything else runs in `release-agent ctl`, to
// which releasectl hands the command line (package cli/full): deploy,
// stage and validate (extraction, compression, hashing, HTML parsing,
// validation), every command without --root (the control client's
// net/http and crypto/tls, about 4 ms of start-up; the TOML
// configuration), and s3:// (minio-go's init alone is about 2 ms).
func TestLean(t *testing.T) {
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
		// third-party heavyweights
		"github.com/minio/minio-go", "github.com/prometheus/", "github.com/coreos/go-systemd",
		"github.com/klauspost/compress", "golang.org/x/net/html", "github.com/BurntSushi/toml",
		"github.com/bmatcuk/doublestar",
		// the standard library's
		"net/http", "crypto/tls", "crypto/x509", "regexp", "compress/", "archive/",
		// the deploy machinery and the daemon
		ra + "daemon", ra + "control", ra + "client", ra + "config", ra + "service",
		ra + "pipeline", ra + "stage", ra + "archive", ra + "source", ra + "hashassets",
		ra + "htmlrefs", ra + "validate", ra + "trigger",
	}
	for _, dep := range deps {
		for _, bad := range banned {
			if dep == bad || strings.HasPrefix(dep, strings.TrimSuffix(bad, "/")+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
				t.Errorf("releasectl depends on %s", dep)
			}
		}
	}
}

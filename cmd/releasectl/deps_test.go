package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLean keeps releasectl to what rollback and activate on a --root
// store need (the store, carry-over, the documents): its start-up time is
// part of every rollback's. Everything else runs in `release-agent ctl`,
// to which releasectl hands the command line (package cli/switchcmd): the
// full CLI with its flag parser and tables, deploys (extraction,
// compression, hashing, HTML parsing, validation), every command without
// --root (the control client's net/http and crypto/tls, about 4 ms of
// start-up; the TOML configuration), and s3:// (minio-go's init alone is
// about 2 ms). Linking the full CLI (pflag and net, text/tabwriter,
// os/exec) and crypto/sha256 made a rollback about 1.5 ms slower.
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
		"github.com/bmatcuk/doublestar", "github.com/spf13/pflag",
		// the standard library's
		"net", "crypto", "regexp", "compress/", "archive/", "os/exec", "text/tabwriter", "flag",
		// the deploy machinery and the daemon
		ra + "daemon", ra + "control", ra + "client", ra + "config", ra + "service",
		ra + "pipeline", ra + "stage", ra + "archive", ra + "source", ra + "hashassets",
		ra + "htmlrefs", ra + "validate", ra + "trigger", ra + "cli/full", ra + "sshcmd",
	}
	for _, dep := range deps {
		if dep == ra+"cli" {
			t.Errorf("releasectl depends on %s (the full CLI)", dep)
		}
		for _, bad := range banned {
			if dep == bad || strings.HasPrefix(dep, strings.TrimSuffix(bad, "/")+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
				t.Errorf("releasectl depends on %s", dep)
			}
		}
	}
}

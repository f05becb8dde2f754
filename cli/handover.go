package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/example/release-agent/cli/full"
)

// releasectl links the store, the control client and nothing else: the
// extraction, hashing and validation code (and minio-go, whose init alone
// costs about 2 ms) would make every rollback start slower. What needs
// them is handed over: when this program has no full.Backend (releasectl)
// and the verb is deploy, stage or validate, or --site must be read from
// the configuration because the daemon is not running, or a deploy names
// an s3:// source and the S3 client is not linked, releasectl replaces
// itself (execve) with `release-agent ctl ARGS`: the same command line,
// the same verbs, output, --json documents and exit statuses, run by the
// program that links everything. It happens before anything is changed,
// and the process (its pid, its terminal, its signals) stays the same.

// S3Helper is the program that runs what releasectl hands over (s3://
// deploys first, hence the name; now every verb that needs the deploy
// machinery). It is looked for beside releasectl, then on PATH.
var S3Helper = "release-agent"

// execve replaces the process, and backend returns the deploy machinery
// of this program (nil in releasectl); tests replace both.
var (
	execve  = syscall.Exec
	backend = full.Get
)

// handOver replaces the process with S3Helper ctl args. It returns only on
// error.
func handOver(args []string) error {
	bin := ""
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), S3Helper); isExecutable(p) {
			bin = p
		}
	}
	if bin == "" {
		p, err := exec.LookPath(S3Helper)
		if err != nil {
			return fmt.Errorf("this needs %s (installed with releasectl; it runs deploys, validation and configured sites without a daemon), not found beside releasectl or on PATH: %w", S3Helper, err)
		}
		bin = p
	}
	argv := append([]string{bin, "ctl"}, args...)
	if err := execve(bin, argv, os.Environ()); err != nil {
		return fmt.Errorf("running %s ctl: %w", bin, err)
	}
	return nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

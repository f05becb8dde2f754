package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/example/release-agent/source"
)

// releasectl does not link the S3 source: minio-go's package init alone
// costs about 2 ms, more than a whole rollback should. When a deploy names
// an s3:// source, the daemon is not running, and this binary has no "s3"
// source registered, releasectl replaces itself (execve) with
// `release-agent ctl ARGS`, the same CLI with S3 linked in, found beside
// releasectl or on PATH. Nothing has been changed at that point.

// S3Helper is the program that runs s3:// deploys for releasectl.
var S3Helper = "release-agent"

// execS3Helper replaces the process with S3Helper ctl args. It returns
// only on error.
func execS3Helper(args []string) error {
	bin := ""
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), S3Helper); isExecutable(p) {
			bin = p
		}
	}
	if bin == "" {
		p, err := exec.LookPath(S3Helper)
		if err != nil {
			return fmt.Errorf("s3:// sources without a running daemon need %s (installed with releasectl) on PATH: %w", S3Helper, err)
		}
		bin = p
	}
	argv := append([]string{bin, "ctl"}, args...)
	return syscall.Exec(bin, argv, os.Environ())
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func needsS3Helper(src string) bool {
	return strings.HasPrefix(src, "s3://") && !source.Registered("s3")
}

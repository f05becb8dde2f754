package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// Binaries builds release-agent and releasectl from this module (as `make
// build` does, without -ldflags) once per test process, into a temporary
// directory that every user can read and execute, and returns their paths.
// It is safe for concurrent use. Call RemoveBinaries from TestMain after
// m.Run to delete them.
func Binaries(t testing.TB) (agent, ctl string) {
	t.Helper()
	binOnce.Do(func() {
		var root string
		if root, binErr = ModuleRoot(); binErr != nil {
			return
		}
		if binDir, binErr = os.MkdirTemp("", "release-agent-bin-"); binErr != nil {
			return
		}
		if binErr = os.Chmod(binDir, 0o755); binErr != nil {
			return
		}
		for name, pkg := range map[string]string{"release-agent": "./cmd/agent", "releasectl": "./cmd/releasectl"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "release-agent"), filepath.Join(binDir, "releasectl")
}

// RemoveBinaries deletes what Binaries built, if anything.
func RemoveBinaries() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

package hashassets

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestPhasesPythonDocs logs where hashing python3.11-doc spends its time
// (go test -run Phases -v); it checks the result is a fixed point too.
func TestPhasesPythonDocs(t *testing.T) {
	needPythonDocs(t)
	if testing.Short() {
		t.Skip("copies 67 MB")
	}
	dir := filepath.Join(t.TempDir(), "site")
	copySite(t, dir)
	t0 := time.Now()
	if out, err := exec.Command("sync").CombinedOutput(); err != nil {
		t.Fatalf("sync: %v %s", err, out)
	}
	t.Logf("sync: %v", time.Since(t0))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	man, err := HashDir(context.Background(), dir, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	again, err := HashDir(context.Background(), dir, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changed()) != 0 || len(again.Assets) != len(man.Assets) {
		t.Errorf("second run: %d changed, %d assets (first %d)", len(again.Changed()), len(again.Assets), len(man.Assets))
	}
}

package e2e

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/releases"
)

// bigArchive writes a tar.gz of n pages plus shared assets; variant changes
// a tenth of the pages so consecutive deploys differ.
func bigArchive(t *testing.T, n, variant int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), fmt.Sprintf("big-%d.tar.gz", variant))
	f, _ := os.Create(p)
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	body := strings.Repeat("lorem ipsum dolor sit amet ", 400)
	for i := range n {
		v := 0
		if i%10 == 0 {
			v = variant
		}
		page := fmt.Sprintf("<!doctype html><title>%d</title><link rel=stylesheet href=\"../s.css\"><p>%d %s</p>", i, v, body)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/p%d.html", i%20, i), Mode: 0o644, Size: int64(len(page))})
		tw.Write([]byte(page))
	}
	css := "p{color:red}"
	tw.WriteHeader(&tar.Header{Name: "s.css", Mode: 0o644, Size: int64(len(css))})
	tw.Write([]byte(css))
	idx := "<!doctype html><title>i</title>"
	tw.WriteHeader(&tar.Header{Name: "index.html", Mode: 0o644, Size: int64(len(idx))})
	tw.Write([]byte(idx))
	tw.Close()
	gz.Close()
	f.Close()
	return p
}

// TestKillDeploy kills `releasectl deploy` with SIGKILL at random instants
// across its run and checks after each kill that current still resolves to
// a complete release matching its manifest, that the next run cleans up,
// that the journal parses and that no id is reused.
func TestKillDeploy(t *testing.T) {
	kills := 20
	if os.Getenv("SOAK") != "" {
		kills = 200
	}
	if testing.Short() {
		kills = 5
	}
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	archives := []string{bigArchive(t, 1500, 1), bigArchive(t, 1500, 2)}
	mustCtl(t, "--root", root, "deploy", archives[0])
	// How long does a deploy take? Kill instants are spread over 1.5x that.
	start := time.Now()
	mustCtl(t, "--root", root, "deploy", archives[1], "--keep", "2")
	full := time.Since(start)
	t.Logf("one deploy takes %v; killing at %d random instants within %v", full, kills, full*3/2)

	rng := rand.New(rand.NewPCG(1, 2))
	maxID := int64(2)
	survived := 0
	for i := range kills {
		cmd := exec.Command(ctlBin(t), "--root", root, "deploy", archives[i%2], "--keep", "2", "--force")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		at := time.Duration(rng.Int64N(int64(full * 3 / 2)))
		timer := time.AfterFunc(at, func() { cmd.Process.Signal(syscall.SIGKILL) })
		err := cmd.Wait()
		timer.Stop()
		killed := err != nil
		// The invariant holds right after the kill, before any recovery.
		if err := storecheck.Check(root, storecheck.Options{}); err != nil {
			t.Fatalf("kill %d at %v: store broken before recovery:\n%v", i, at, err)
		}
		// The next writer recovers; then there are no leftovers.
		r := mustCtl(t, "--root", root, "prune", "--keep", "2")
		if killed && strings.Contains(r.stderr, "recovered:") {
			survived++
		}
		if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
			t.Fatalf("kill %d at %v: after recovery:\n%v", i, at, err)
		}
		// ids never go backwards
		b, _ := os.ReadFile(filepath.Join(root, "state", "next-id"))
		next, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if next <= maxID {
			t.Fatalf("kill %d: next-id %d not above %d", i, next, maxID)
		}
		maxID = next - 1
	}
	// A final deploy works and gets a fresh id (--force: the artifact
	// may be the live content, which is otherwise a no-op).
	r := mustCtl(t, "--root", root, "deploy", archives[0], "--force")
	id := strings.TrimSpace(r.stdout)
	if n, _ := releases.ParseID(id); n <= maxID {
		t.Fatalf("final deploy got %s, not above v%d", id, maxID)
	}
	t.Logf("%d kills, %d of them left leftovers that the next run cleaned", kills, survived)
}

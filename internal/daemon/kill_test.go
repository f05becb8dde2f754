package daemon_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/storecheck"
)

// TestKillDaemonDuringDeploy kills release-agent with SIGKILL at random
// instants of inbox deploys. After each kill the store invariants hold
// (current resolves to a complete release matching its manifest, the
// journal parses, no id reused); the restarted daemon recovers, finishes
// the archive still in the inbox, and leaves no leftovers.
func TestKillDaemonDuringDeploy(t *testing.T) {
	kills := 8
	if os.Getenv("SOAK") != "" {
		kills = 50
	}
	if testing.Short() {
		kills = 2
	}
	agent, _ := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	inbox := filepath.Join(dir, "inbox")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
[[site]]
name = "www"
root = %q
keep = 2
[site.triggers]
inbox = %q
`, filepath.Join(dir, "control.sock"), root, inbox))
	n := listenNotify(t, dir)
	start := func() *exec.Cmd {
		cmd := exec.Command(agent, "--config", cfg)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	// A site big enough that a deploy takes a while: 400 pages sharing a
	// stylesheet (rewritten by hashing), and 8 MiB of other files.
	site := func(v int) map[string]string {
		files := map[string]string{"index.html": page(fmt.Sprintf("v%d", v)), "s.css": fmt.Sprintf("p{color:#%06x}", v)}
		for i := range 400 {
			files[fmt.Sprintf("p/%d.html", i)] = fmt.Sprintf("<!doctype html><title>%d</title><link rel=stylesheet href=\"../s.css\"><p>%d %d</p>", i, i, v)
		}
		blob := make([]byte, 1<<20)
		for i := range 8 {
			for j := range blob {
				blob[j] = byte(i*v + j*j>>5)
			}
			files[fmt.Sprintf("b/%d.bin", i)] = string(blob)
		}
		return files
	}
	rng := rand.New(rand.NewPCG(7, 8))
	cmd := start()
	mark := n.wait(t, 0, `^READY=1$`)
	writeTar(t, inbox, "site-0.tar", site(0))
	poll(t, "the first deploy", func() bool { return current(t, root) != "" })
	killed := 0
	for i := 1; i <= kills; i++ {
		writeTar(t, inbox, fmt.Sprintf("site-%d.tar", i), site(i))
		mark = n.wait(t, mark, `deploying inbox site-`)
		time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond)))) // the kill instant, not synchronisation
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			killed++
		}
		cmd.Wait()
		if err := storecheck.Check(root, storecheck.Options{}); err != nil {
			t.Fatalf("kill %d: store broken right after the kill:\n%v", i, err)
		}
		cmd = start()
		mark = n.wait(t, mark, `^READY=1$`)
		name := fmt.Sprintf("site-%d.tar", i)
		poll(t, "the restarted daemon to take "+name+" out of the inbox", func() bool {
			_, err := os.Stat(filepath.Join(inbox, name))
			return os.IsNotExist(err)
		})
		poll(t, "the deploy to finish", func() bool {
			ents, _ := os.ReadDir(filepath.Join(root, "state", "staging"))
			return len(ents) == 0
		})
		if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
			t.Fatalf("kill %d: after the restart:\n%v", i, err)
		}
	}
	t.Logf("%d kills of release-agent during deploys; the store was consistent after each", killed)
}

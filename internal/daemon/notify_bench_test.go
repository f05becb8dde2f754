package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/testutil/testenv"
)

// BenchmarkDeployNotifyHanging: deploys through two daemons in turn, one
// without [[notify]] (the baseline) and one whose endpoint never answers;
// the metric "ratio" is the second's total deploy time over the first's
// (1 means notifications cost a deploy nothing). The hanging endpoint's
// queue (100) fills after 100 deploys; later ones are dropped, counted.
func BenchmarkDeployNotifyHanging(b *testing.B) {
	agent, _ := testenv.Binaries(b)
	hung := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hung)
	start := func(name, extra string) (*client.Client, string) {
		dir, err := os.MkdirTemp("", "ra-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		sock := filepath.Join(dir, "control.sock")
		cfg := filepath.Join(dir, "config.toml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("[daemon]\ncontrol_socket = %q\n[[site]]\nname = %q\nroot = %q\n%s", sock, name, filepath.Join(dir, "root"), extra)), 0o644)
		cmd := exec.Command(agent, "--config", cfg)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
		c := &client.Client{Socket: sock}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := c.Ping(context.Background()); err == nil {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("release-agent did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
		src := filepath.Join(dir, "src")
		os.MkdirAll(src, 0o755)
		return c, src
	}
	base, baseSrc := start("base", "")
	hang, hangSrc := start("hang", fmt.Sprintf("[[notify]]\nurl = %q\n", slow.URL))
	deploy := func(c *client.Client, src string, i int) time.Duration {
		os.WriteFile(filepath.Join(src, "index.html"), []byte(fmt.Sprintf("<!doctype html><title>%d</title><p>%d</p>", i, i)), 0o644)
		t0 := time.Now()
		if _, err := c.Deploy(context.Background(), api.DeployRequest{Source: src, Activate: true}); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	// At least 20 deploys each, so that the ratio means something at
	// make bench's -benchtime 1x.
	var tb, th time.Duration
	b.ResetTimer()
	for i := range max(b.N, 20) {
		tb += deploy(base, baseSrc, i)
		th += deploy(hang, hangSrc, i)
	}
	b.StopTimer()
	b.ReportMetric(float64(th)/float64(tb), "ratio")
	b.ReportMetric(float64(tb.Microseconds())/float64(max(b.N, 20)), "base-us/deploy")
}

package daemon_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
)

// TestHealthCheckTransientFailure: the web server answers 503 to the first
// request after each swap (a cold cache, a reload), then serves the
// release: the daemon does not roll back, and logs each request.
func TestHealthCheckTransientFailure(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(filepath.Join(root, "current")))
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := os.Readlink(filepath.Join(root, "current"))
		mu.Lock()
		first := !seen[cur]
		seen[cur] = true
		mu.Unlock()
		if first {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		files.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
[[site]]
name = "www"
root = %q
[site.health]
urls = ["http://%s/"]
expect_body = "healthy"
interval = "100ms"
`, sock, root, ln.Addr()))
	_, stderr := daemon(t, agent, cfg, sock)
	c := &client.Client{Socket: sock}
	for i, title := range []string{"healthy one", "healthy two"} {
		res, err := c.Deploy(context.Background(), api.DeployRequest{Source: siteDir(t, dir, title), Activate: true})
		if err != nil {
			t.Fatalf("deploy %d with one transient failure: %v", i+1, err)
		}
		if want := fmt.Sprintf("v%d", i+1); res.Release.ID != want || current(t, root) != want {
			t.Fatalf("deploy %d: %s, current %s", i+1, res.Release.ID, current(t, root))
		}
	}
	// The log comes through a pipe: wait for its last line.
	poll(t, "the log of the second health check", func() bool {
		return strings.Contains(stderr.String(), `msg="health check passed" site=www release=v2`)
	})
	log := stderr.String()
	if strings.Contains(log, "rolled back") {
		t.Errorf("rolled back after a transient failure:\n%s", log)
	}
	for _, want := range []string{
		`msg="health check request" site=www release=v2 attempt=1 url=http://` + ln.Addr().String() + `/ status=503`,
		`pass=false`,
		`msg="health check request" site=www release=v2 attempt=2 url=http://` + ln.Addr().String() + `/ status=200`,
		`msg="health check passed" site=www release=v2`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

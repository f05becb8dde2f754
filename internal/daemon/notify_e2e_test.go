package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/testutil/testenv"
)

// hookReceiver is a real HTTP endpoint that records the notifications it
// is sent.
type hookReceiver struct {
	mu   sync.Mutex
	docs []map[string]any
	auth []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	h.mu.Lock()
	h.docs = append(h.docs, m)
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.mu.Unlock()
}

// events returns "event site release previous" of each document, and the
// cause of a rollback.
func (h *hookReceiver) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, d := range h.docs {
		s := func(k string) string { v, _ := d[k].(string); return v }
		cause := ""
		if s("event") == "rollback" {
			cause = s("cause")
		}
		out = append(out, strings.Join(strings.Fields(fmt.Sprintf("%s %s %s %s %s", s("event"), s("site"), s("release"), s("previous"), cause)), " "))
	}
	return out
}

func (h *hookReceiver) has(ev string) bool {
	for _, e := range h.events() {
		if e == ev {
			return true
		}
	}
	return false
}

// TestNotifications drives the daemon through a deploy, a rejection, a
// health-check rollback and a manual rollback with two [[notify]]
// endpoints: one that records (with a bearer token and an events filter)
// and one that hangs, which never delays a deploy.
func TestNotifications(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	websrv := &http.Server{Handler: http.FileServer(http.Dir(filepath.Join(root, "current")))}
	go websrv.Serve(web)
	t.Cleanup(func() { websrv.Close() })

	all, rb := &hookReceiver{}, &hookReceiver{}
	allSrv, rbSrv := httptest.NewServer(all), httptest.NewServer(rb)
	defer allSrv.Close()
	defer rbSrv.Close()
	// The hanging receiver: it holds every request until the test ends.
	hung := make(chan struct{})
	var inFlight sync.WaitGroup
	inFlight.Add(1)
	var first sync.Once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Do(inFlight.Done)
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hung)

	token := filepath.Join(dir, "notify.token")
	writeFile(t, token, "tok-123\n")
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	mport := testenv.FreePort(t)
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
metrics_listen = "127.0.0.1:%d"
[[site]]
name = "www"
root = %q
[site.health]
urls = ["http://%s/"]
expect_body = "healthy"
interval = "50ms"

[[notify]]
url = %q
[[notify]]
url = %q
token_file = %q
events = ["rollback"]
[[notify]]
url = %q
`, sock, mport, root, web.Addr(), slow.URL+"/hook", rbSrv.URL+"/hook", token, allSrv.URL+"/all"))
	_, stderr := daemon(t, agent, cfg, sock)
	c := &client.Client{Socket: sock}
	ctx := context.Background()

	// A deploy: notified; the hanging endpoint holds its document and the
	// deploy has returned all the same.
	if _, err := c.Deploy(ctx, api.DeployRequest{Source: siteDir(t, dir, "healthy one"), Activate: true}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	inFlight.Wait()
	poll(t, "the deploy notification", func() bool { return all.has("deploy www v1") })
	if _, err := c.Deploy(ctx, api.DeployRequest{Source: siteDir(t, dir, "healthy two"), Activate: true}); err != nil {
		t.Fatalf("second deploy while the hanging endpoint still holds the first document: %v", err)
	}
	poll(t, "the second deploy notification", func() bool { return all.has("deploy www v2 v1") })

	// Rejected by validation: no index.html.
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	writeFile(t, filepath.Join(empty, "other.html"), "<p>no index</p>")
	if _, err := c.Deploy(ctx, api.DeployRequest{Source: empty, Activate: true}); err == nil {
		t.Fatal("deploy without index.html accepted")
	}
	poll(t, "the rejection", func() bool { return all.has("rejected www") })

	// Unhealthy: rolled back by the health check; a failure and an
	// automatic rollback are notified.
	if _, err := c.Deploy(ctx, api.DeployRequest{Source: siteDir(t, dir, "broken"), Activate: true}); err == nil {
		t.Fatal("unhealthy deploy succeeded")
	}
	poll(t, "the automatic rollback", func() bool { return rb.has("rollback www v2 v4 health-check") && all.has("failed www") })

	// A manual rollback.
	if _, err := c.Rollback(ctx, api.ActivateRequest{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the manual rollback", func() bool { return rb.has("rollback www v1 v2 manual") })

	if got := rb.events(); len(got) != 2 {
		t.Errorf("the rollback-only endpoint got %q", got)
	}
	rb.mu.Lock()
	for _, a := range rb.auth {
		if a != "Bearer tok-123" {
			t.Errorf("Authorization %q", a)
		}
	}
	for _, d := range rb.docs {
		if d["schema"] != 1.0 || d["host"] == "" || d["time"] == "" || !strings.Contains(d["text"].(string), "rolled back from") {
			t.Errorf("document %v", d)
		}
	}
	rb.mu.Unlock()
	all.mu.Lock()
	for _, a := range all.auth {
		if a != "" {
			t.Errorf("endpoint without token_file got Authorization %q", a)
		}
	}
	all.mu.Unlock()

	// The sender counts a notification once the endpoint's answer is
	// back, which may be just after the endpoint has recorded it.
	want := []string{
		`release_agent_notifications_sent_total{endpoint="notify[1]",event="rollback"} 2`,
		`release_agent_notifications_sent_total{endpoint="notify[2]",event="deploy"} 2`,
		`release_agent_notifications_sent_total{endpoint="notify[2]",event="failed"} 1`,
		`release_agent_notifications_dropped_total{endpoint="notify[2]",event="deploy"} 0`,
	}
	poll(t, "the notification counters "+strings.Join(want, ", "), func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				return false
			}
		}
		return true
	})
	poll(t, "a health check request in the log", func() bool { return strings.Contains(stderr.String(), `msg="health check request"`) })
}

// A token file that cannot be read: the daemon refuses to start, naming
// the file and the key.
func TestNotifyTokenFileMissing(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
[[site]]
name = "www"
root = %q
[[notify]]
url = "https://hooks.example.net/x"
token_file = %q
`, filepath.Join(dir, "c.sock"), filepath.Join(dir, "www"), filepath.Join(dir, "nope.token")))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, agent, "--config", cfg).CombinedOutput()
	out := string(b)
	if err == nil {
		t.Fatalf("started with a missing token file:\n%s", out)
	}
	for _, want := range []string{cfg + `:`, `key "notify[0].token_file"`, `bearer token file: open ` + filepath.Join(dir, "nope.token")} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

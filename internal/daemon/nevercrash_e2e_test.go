package daemon_test

// The "Done means" test of issue 14 (never crash, bounded retries): the
// built release-agent with every validation budget set, a listen and a
// webhook trigger on a real MinIO, and two inboxes.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
)

// waitFor polls cond every 20ms until it holds, failing after d.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	writeTarTo(t, &b, files)
	return b.Bytes()
}

// TestNeverCrashBoundedRetries: with every budget key set, the first
// deploys (CLI direct mode, inbox, listen) go live without a panic; a
// broken artifact is rejected once and not retried while unchanged; with
// MinIO stopped, a triggered deploy is retried [site.retry] attempts
// times, then given up (log, metrics, releasectl status), while inbox
// deploys of the same site and of another site go live; the daemon never
// dies and its log has no "panic".
func TestNeverCrashBoundedRetries(t *testing.T) {
	agent, ctl := bins(t)
	dir := pubDir(t)
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	creds := filepath.Join(dir, "credentials")
	writeFile(t, creds, fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", m.AccessKey, m.SecretKey))
	tok := testenv.RandomString(32)
	tokFile := filepath.Join(dir, "token")
	writeFile(t, tokFile, tok)
	hookPort, metricsPort := testenv.FreePort(t), testenv.FreePort(t)
	sock := filepath.Join(dir, "control.sock")
	roots := map[string]string{"www": filepath.Join(dir, "www"), "docs": filepath.Join(dir, "docs")}
	inbox := map[string]string{"www": filepath.Join(dir, "inbox-www"), "docs": filepath.Join(dir, "inbox-docs")}
	budgets := `[site.validate]
max_file_bytes = "64KiB"
max_total_bytes = "1MiB"
max_growth_percent = 1000
shrink_percent = 90
`
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
webhook_listen = "127.0.0.1:%d"
webhook_token_file = %q
metrics_listen = "127.0.0.1:%d"
[s3]
endpoint = %q
insecure = true
region = "us-east-1"
credentials_file = %q
[[site]]
name = "www"
root = %q
source = "s3://site/site.tar"
[site.triggers]
s3_listen = true
webhook = true
inbox = %q
%s[site.retry]
attempts = 2
max_wait = "10m"
initial = "100ms"
max_delay = "200ms"
[[site]]
name = "docs"
root = %q
[site.triggers]
inbox = %q
%s`, sock, hookPort, tokFile, metricsPort, m.Endpoint, creds, roots["www"], inbox["www"], budgets, roots["docs"], inbox["docs"], budgets))

	// The CLI path first (no daemon yet): a first release with every
	// budget and no live release.
	if err := os.MkdirAll(roots["docs"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ctl, "--config", cfg, "--socket", sock, "--site", "docs", "deploy", siteDir(t, dir, "docs by releasectl")).CombinedOutput()
	if err != nil || current(t, roots["docs"]) != "v1" {
		t.Fatalf("releasectl deploy (direct): %v\n%s", err, out)
	}

	stop, stderr := daemon(t, agent, cfg, sock)
	c := &client.Client{Socket: sock}
	alive := func() {
		t.Helper()
		if _, err := c.Ping(context.Background()); err != nil {
			t.Fatalf("the daemon is gone: %v\n%s", err, stderr.String())
		}
	}
	put := func(body []byte) {
		t.Helper()
		if _, err := m.Client.PutObject(context.Background(), "site", "site.tar", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	records := func(site string) map[releases.Status]int {
		t.Helper()
		s, err := releases.Open(roots[site])
		if err != nil {
			t.Fatal(err)
		}
		recs, err := s.Records()
		if err != nil {
			t.Fatal(err)
		}
		n := map[releases.Status]int{}
		for _, r := range recs {
			n[r.Status]++
		}
		return n
	}

	// Inbox, first release of www with every budget.
	writeTar(t, inbox["www"], "first.tar", map[string]string{"index.html": page("www from the inbox")})
	poll(t, "the inbox deploy of www", func() bool { return current(t, roots["www"]) == "v1" })

	// Listen: upload → live. The listen stream opens asynchronously after
	// start and an event sent before it is lost (Listen's documented
	// limit), so the same bytes (same ETag) are put again until one event
	// arrives; duplicates are dropped by the queue.
	good := tarOf(t, map[string]string{"index.html": page("www from s3")})
	next := time.Now()
	waitFor(t, "the listen deploy", time.Minute, func() bool {
		if time.Now().After(next) {
			put(good)
			next = time.Now().Add(2 * time.Second)
		}
		return current(t, roots["www"]) == "v2"
	})
	if b, _ := os.ReadFile(filepath.Join(roots["www"], "current", "index.html")); !strings.Contains(string(b), "www from s3") {
		t.Fatalf("served %q", b)
	}

	// A broken artifact (a file over max_file_bytes) is rejected once; the
	// same object put again is not deployed again.
	broken := tarOf(t, map[string]string{"index.html": page("broken"), "big.bin": strings.Repeat("x", 100<<10)})
	put(broken)
	poll(t, "the rejection", func() bool { return records("www")[releases.StatusRejected] == 1 })
	put(broken)
	// The next event (a good artifact) is handled after the duplicate.
	good2 := tarOf(t, map[string]string{"index.html": page("www from s3, again")})
	put(good2)
	poll(t, "the second good upload", func() bool {
		b, _ := os.ReadFile(filepath.Join(roots["www"], "current", "index.html"))
		return strings.Contains(string(b), "again")
	})
	if n := records("www")[releases.StatusRejected]; n != 1 {
		t.Fatalf("%d rejected releases, want 1 (an unchanged broken artifact was retried)", n)
	}
	alive()

	// Unreachable source: MinIO stops, and an event for a changed object
	// arrives through the webhook. The deploy fails for a transient
	// reason and is retried once (attempts = 2), then given up. Inbox
	// deploys of www and of docs go live meanwhile.
	m.Stop()
	ev := fmt.Sprintf(`{"EventName":"s3:ObjectCreated:Put","Key":"site/site.tar","Records":[{"eventVersion":"2.0","eventSource":"minio:s3","eventTime":%q,"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"site"},"object":{"key":"site.tar","size":10240,"eTag":"0123456789abcdef0123456789abcdef"}}}]}`,
		time.Now().UTC().Format(time.RFC3339Nano))
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/v0/hook/www", hookPort), strings.NewReader(ev))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("webhook: %s", resp.Status)
	}
	writeTar(t, inbox["www"], "during-outage.tar", map[string]string{"index.html": page("www during the outage")})
	writeTar(t, inbox["docs"], "docs.tar", map[string]string{"index.html": page("docs during the outage")})
	waitFor(t, "the give-up", 3*time.Minute, func() bool { return strings.Contains(stderr.String(), "giving up") })
	for site, name := range map[string]string{"www": "during-outage.tar", "docs": "docs.tar"} {
		waitFor(t, site+" inbox deploy during the outage", time.Minute, func() bool {
			_, err := os.Stat(filepath.Join(inbox[site], "done", name))
			return err == nil
		})
	}
	if b, _ := os.ReadFile(filepath.Join(roots["www"], "current", "index.html")); !strings.Contains(string(b), "during the outage") {
		t.Errorf("www serves %q, want the inbox release made during the outage", b)
	}
	alive()

	// Given up after exactly 2 attempts: logged once, counted, in status.
	log := stderr.String()
	t.Logf("trigger log:\n%s", grepLines(log, "trigger"))
	attempts := regexp.MustCompile(`deploy triggered.*what="webhook site.tar"`).FindAllString(log, -1)
	if len(attempts) != 2 || strings.Count(log, "giving up") != 1 {
		t.Errorf("%d deploys of the unreachable artifact and %d give-ups logged, want 2 and 1", len(attempts), strings.Count(log, "giving up"))
	}
	out, err = exec.Command(ctl, "--socket", sock, "--site", "www", "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "giving up on s3://site/site.tar after 2 attempts") {
		t.Errorf("releasectl status: %v\n%s", err, out)
	}
	out, err = exec.Command(ctl, "--socket", sock, "--site", "www", "--json", "status").Output()
	var st api.StatusResult
	if err != nil || json.Unmarshal(out, &st) != nil || st.GaveUp == nil || st.GaveUp.Attempts != 2 || st.GaveUp.Source != "s3://site/site.tar" || st.GaveUp.Error == "" {
		t.Errorf("releasectl --json status: %v: %s", err, out)
	}
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `release_agent_trigger_giveups_total{site="www"} 1`) {
		t.Errorf("metrics lack the give-up:\n%s", grepLines(string(body), "giveups"))
	}

	// The daemon never died, stops cleanly, logged no panic, and both
	// stores are consistent.
	alive()
	if err := stop(); err != nil {
		t.Errorf("release-agent exit: %v", err)
	}
	if strings.Contains(strings.ToLower(stderr.String()), "panic") {
		t.Errorf("the log mentions a panic:\n%s", grepLines(stderr.String(), "anic"))
	}
	for site, root := range roots {
		if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
			t.Errorf("%s: %v", site, err)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

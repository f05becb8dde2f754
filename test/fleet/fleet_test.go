// Package fleet_test proves issue 16 end to end: a MinIO, N release-agent
// daemons (the built binary; each its own root, config and host name),
// each served by its own nginx on 127.0.0.1, and an nginx load balancer
// spreading requests round robin over them, configured from
// packaging/web/nginx-fleet-lb.conf as the README tells operators. A
// browser-like client (test/loadtest: a page, then its CSS, JS and images)
// runs against the load balancer throughout, while `releasectl fleet`
// deploys and rolls back.
//
// FLEET_HOSTS sets N (default 5) and FLEET_ROUNDS the number of fleet
// commands in TestFleetDeploysUnderLoad (default 8 in make test; make
// soak runs 50 with 8 hosts).
package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/fleet"
	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/test/loadtest"
)

const fleetURL = "s3://ops/fleet/www/"

// env is a fleet: MinIO, hosts, the load balancer.
type env struct {
	t      *testing.T
	dir    string
	m      *testenv.MinIO
	agent  string
	ctl    string
	nginx  string
	creds  string
	hosts  []*host
	lb     *loadtest.Nginx
	bucket *fleet.Bucket
}

// host is one web host: a release-agent and its nginx.
type host struct {
	e      *env
	name   string
	dir    string
	root   string
	cfg    string
	extra  string // more TOML for its [[site]]
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *testenv.SyncBuffer
	web    *loadtest.Nginx
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// newEnv starts MinIO, n hosts (extra[i] is added to host i's site) and
// the load balancer.
func newEnv(t *testing.T, n int, extra map[int]string) *env {
	t.Helper()
	e := &env{t: t}
	e.nginx = testenv.Command(t, "nginx")
	e.agent, e.ctl = testenv.Binaries(t)
	d, err := os.MkdirTemp("", "ra-fleet-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	e.dir = d
	e.m = testenv.StartMinIO(t, nil)
	e.m.MakeBucket(t, "ops")
	e.m.MakeBucket(t, "builds")
	e.creds = filepath.Join(d, "credentials")
	write(t, e.creds, fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", e.m.AccessKey, e.m.SecretKey))
	if e.bucket, err = fleet.New(e.m.Client, fleetURL); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		h := &host{e: e, name: fmt.Sprintf("web%d", i+1), extra: extra[i]}
		h.dir = filepath.Join(d, h.name)
		h.root = filepath.Join(h.dir, "www")
		if err := os.MkdirAll(h.root, 0o755); err != nil {
			t.Fatal(err)
		}
		h.start()
		e.hosts = append(e.hosts, h)
	}
	for _, h := range e.hosts {
		h.waitReport()
		ndir := filepath.Join(h.dir, "nginx")
		os.MkdirAll(ndir, 0o755)
		h.web, err = loadtest.StartNginx(context.Background(), e.nginx, ndir, filepath.Join(h.root, "current"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.web.Stop)
	}
	e.startLB()
	return e
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// start starts h's release-agent.
func (h *host) start() {
	t := h.e.t
	h.cfg = filepath.Join(h.dir, "config.toml")
	write(t, h.cfg, fmt.Sprintf(`[daemon]
control_socket = %q

[s3]
endpoint = %q
region = "us-east-1"
insecure = true
credentials_file = %q

[[site]]
name = "www"
root = %q
  [site.fleet]
  url = %q
  host = %q
  poll = "1s"
  heartbeat = "1s"
%s
`, filepath.Join(h.dir, "control.sock"), h.e.m.Endpoint, h.e.creds, h.root, fleetURL, h.name, h.extra))
	h.stderr = &testenv.SyncBuffer{}
	h.cmd = exec.Command(h.e.agent, "--config", h.cfg)
	h.cmd.Stderr = h.stderr
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.exited = make(chan struct{})
	go func(c *exec.Cmd, ch chan struct{}) { c.Wait(); close(ch) }(h.cmd, h.exited)
	cmd, ch, stderr := h.cmd, h.exited, h.stderr
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-ch
		}
		if strings.Contains(strings.ToLower(stderr.String()), "panic") {
			t.Errorf("%s: the daemon's log mentions a panic:\n%s", h.name, stderr.String())
		}
		if t.Failed() {
			t.Logf("%s: release-agent stderr:\n%s", h.name, stderr.String())
		}
	})
}

// kill kills h's release-agent with SIGKILL.
func (h *host) kill() {
	h.cmd.Process.Kill()
	<-h.exited
}

// waitReport waits until h has written its report.
func (h *host) waitReport() {
	t := h.e.t
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := h.e.bucket.Host(context.Background(), h.name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reported to %s\n%s", h.name, fleetURL, h.stderr.String())
		}
		select {
		case <-h.exited:
			t.Fatalf("%s: release-agent exited\n%s", h.name, h.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startLB starts the load balancer from the shipped configuration, with
// the hosts' addresses and a free port substituted.
func (e *env) startLB() {
	t := e.t
	tmpl, err := os.ReadFile(filepath.Join(moduleRoot(t), "packaging/web/nginx-fleet-lb.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var servers strings.Builder
	for _, h := range e.hosts {
		fmt.Fprintf(&servers, "    server %s;\n", strings.TrimPrefix(h.web.URL, "http://"))
	}
	// The shipped file is an http-level snippet: the upstream and the
	// server. Replace its example servers and listen address.
	conf := regexp.MustCompile(`(?m)^\s*server web\d+\.example\.org:80;\n`).ReplaceAllString(string(tmpl), "")
	conf = strings.Replace(conf, "upstream release_agent_fleet {\n", "upstream release_agent_fleet {\n"+servers.String(), 1)
	conf = regexp.MustCompile(`(?m)^\s*listen \[::\]:80;\n`).ReplaceAllString(conf, "")
	dir := filepath.Join(e.dir, "lb")
	lb, err := loadtest.StartNginxConfig(context.Background(), e.nginx, dir, func(port int) string {
		return loadtest.NginxHTTPConfig(dir, strings.Replace(conf, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port), 1))
	})
	if err != nil {
		t.Fatalf("load balancer from packaging/web/nginx-fleet-lb.conf: %v", err)
	}
	t.Cleanup(lb.Stop)
	e.lb = lb
}

func moduleRoot(t *testing.T) string {
	r, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// upload puts the marked site id as s3://builds/ID.tar.gz and returns its
// URL.
func (e *env) upload(id string, files map[string][]byte) string {
	e.t.Helper()
	if files == nil {
		files = loadtest.Site(id)
	}
	var b bytes.Buffer
	if err := loadtest.WriteTarGz(&b, files); err != nil {
		e.t.Fatal(err)
	}
	key := id + ".tar.gz"
	if _, err := e.m.Client.PutObject(context.Background(), "builds", key, bytes.NewReader(b.Bytes()), int64(b.Len()), minio.PutObjectOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return "s3://builds/" + key
}

// releasectl runs `releasectl fleet --fleet URL args...` and returns its
// exit code, stdout and stderr.
func (e *env) releasectl(args ...string) (int, string, string) {
	e.t.Helper()
	cmd := exec.Command(e.ctl, append([]string{"fleet", "--fleet", fleetURL}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+e.m.URL(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID="+e.m.AccessKey, "AWS_SECRET_ACCESS_KEY="+e.m.SecretKey)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func (e *env) mustFleet(args ...string) string {
	e.t.Helper()
	code, out, errs := e.releasectl(args...)
	if code != 0 {
		e.t.Fatalf("releasectl fleet %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

var markerRE = regexp.MustCompile(`release:([A-Za-z0-9_.-]+)`)

// served returns the release marker h's nginx serves at /.
func (h *host) served() string {
	resp, err := http.Get(h.web.URL + "/")
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	m := markerRE.FindSubmatch(b)
	if m == nil {
		return "unmarked"
	}
	return string(m[1])
}

// allServe checks that every host serves release id.
func (e *env) allServe(id string) {
	e.t.Helper()
	for _, h := range e.hosts {
		if got := h.served(); got != id {
			e.t.Errorf("%s serves %q, want %q", h.name, got, id)
		}
	}
}

func (e *env) checkStores() {
	for _, h := range e.hosts {
		if err := storecheck.Check(h.root, storecheck.Options{}); err != nil {
			e.t.Errorf("%s: store: %v", h.name, err)
		}
	}
}

// load runs the browser-like client against the load balancer until stop
// is called, which returns its counts.
func (e *env) load() (stop func() *loadtest.Result) {
	ctx, cancel := context.WithCancel(context.Background())
	var res *loadtest.Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = loadtest.Run(ctx, loadtest.Config{BaseURL: e.lb.URL, Pages: loadtest.SitePages, Workers: 4,
			Duration: time.Hour, DelayedShare: 0.2, MaxDelay: 300 * time.Millisecond})
	}()
	return func() *loadtest.Result {
		cancel()
		<-done
		if err != nil && !errors.Is(err, context.Canceled) {
			e.t.Fatalf("load client: %v", err)
		}
		return res
	}
}

func TestFleetDeploysUnderLoad(t *testing.T) {
	n := envInt("FLEET_HOSTS", 5)
	rounds := envInt("FLEET_ROUNDS", 8)
	// Odd hosts follow desired.json by polling only (as on AWS, which has
	// no listen API): they switch up to a second after the others, which
	// widens the window in which the hosts serve different releases and a
	// page from one host asks another for its hashed assets.
	extra := map[int]string{}
	for i := 0; i < n; i += 2 {
		extra[i] = "  s3_listen = false\n"
	}
	e := newEnv(t, n, extra)

	first := e.upload("a0", nil)
	e.mustFleet("deploy", first, "--message", "first")
	e.allServe("a0")

	stop := e.load()
	deployed := []string{"a0"}
	live := "a0"
	for i := 1; i <= rounds; i++ {
		switch {
		case i%4 == 3 && len(deployed) > 1:
			// Roll back to the release desired before.
			e.mustFleet("rollback")
			for j := len(deployed) - 1; j >= 0; j-- {
				if deployed[j] != live {
					live = deployed[j]
					break
				}
			}
		case i%4 == 0:
			// Activate the newest release again.
			out := e.mustFleet("status", "--json")
			var st fleet.Result
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatal(err)
			}
			target := deployed[len(deployed)-1]
			label := ""
			for _, l := range append(st.Desired.Releases, fleet.Labelled{Release: st.Desired.Release, Artifact: st.Desired.Artifact}) {
				if strings.Contains(l.Artifact.URL, "/"+target+".tar.gz") {
					label = l.Release
				}
			}
			if label == "" {
				t.Fatalf("no label for %s in %+v", target, st.Desired)
			}
			e.mustFleet("activate", label)
			live = target
		default:
			id := fmt.Sprintf("a%d", i)
			e.mustFleet("deploy", e.upload(id, nil), "--commit", fmt.Sprintf("%040x", i))
			deployed = append(deployed, id)
			live = id
		}
		e.allServe(live)
	}
	res := stop()
	t.Logf("%d fleet commands over %d hosts; client: %s", rounds, n, res)
	if res.PageLoads == 0 {
		t.Fatal("the client loaded no page")
	}
	if res.Non2xx != 0 || res.ConnErrors != 0 || res.MixedPages != 0 {
		t.Errorf("client saw %d non-2xx, %d connection errors, %d mixed pages; want 0 (%s)", res.Non2xx, res.ConnErrors, res.MixedPages, res)
	}
	e.checkStores()
}

func TestFleetRejectingHost(t *testing.T) {
	// web3 alone enforces a size budget the second release exceeds.
	e := newEnv(t, 3, map[int]string{2: "  [site.validate]\n  max_file_bytes = 2000\n"})
	e.mustFleet("deploy", e.upload("b0", nil))
	e.allServe("b0")
	big := loadtest.Site("b1")
	big["big.html"] = append([]byte("<!doctype html><title>big</title><p>release:b1</p>"), bytes.Repeat([]byte("x"), 5000)...)
	code, out, errs := e.releasectl("deploy", e.upload("b1", big))
	if code != 3 {
		t.Fatalf("deploy with a rejecting host: exit %d, want 3\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "web3") || !strings.Contains(errs, "big.html") {
		t.Errorf("the error does not name web3 and the file at fault:\n%s", errs)
	}
	e.allServe("b0")
	d, _, err := e.bucket.Desired(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Release != "r1" || d.Phase != fleet.PhaseActivate {
		t.Errorf("desired.json after the abort: %s %s, want r1 activate", d.Release, d.Phase)
	}
	// No host activated anything: one activation each (the first deploy).
	for _, h := range e.hosts {
		out, err := exec.Command(e.ctl, "--root", h.root, "history", "--json", "-n", "0").Output()
		if err != nil {
			t.Fatal(err)
		}
		if c := strings.Count(string(out), `"event": "activated"`); c != 1 {
			t.Errorf("%s: %d activations in its journal, want 1:\n%s", h.name, c, out)
		}
	}
	e.checkStores()
}

func TestFleetHostKilledDuringStaging(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.mustFleet("deploy", e.upload("c0", nil))
	h := e.hosts[1]
	// A release big enough that staging it takes a while.
	big := loadtest.Site("c1")
	for i := range 3000 {
		big[fmt.Sprintf("p/%04d.html", i)] = fmt.Appendf(nil, "<!doctype html><title>%d</title><p>release:c1 page %d</p>\n", i, i)
	}
	url := e.upload("c1", big)
	done := make(chan struct{})
	var code int
	var errs string
	go func() {
		defer close(done)
		code, _, errs = e.releasectl("deploy", url, "--heartbeat-timeout", "3s")
	}()
	// SIGKILL web2 as soon as it reports staging.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := e.bucket.Host(context.Background(), h.name)
		if err == nil && r.State == fleet.StateStaging && r.Generation >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web2 never reported staging: %+v %v", r, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.kill()
	<-done
	if code == 0 || !strings.Contains(errs, "web2") {
		t.Fatalf("deploy with web2 killed while staging: exit %d, want a failure naming web2:\n%s", code, errs)
	}
	t.Logf("deploy with web2 killed while staging: exit %d: %s", code, strings.TrimSpace(errs))
	e.allServe("c0")
	// Restarted, it recovers its store and converges on desired.json
	// (back to c0's release after the abort); the next deploy completes.
	h.start()
	h.waitReport()
	e.mustFleet("deploy", url)
	e.allServe("c1")
	for _, h := range e.hosts {
		if err := storecheck.Check(h.root, storecheck.Options{AfterRecovery: true}); err != nil {
			t.Errorf("%s: store: %v", h.name, err)
		}
	}
}

func TestFleetMinIORestart(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.mustFleet("deploy", e.upload("d0", nil))
	url := e.upload("d1", nil)
	done := make(chan struct{})
	var code int
	var errs string
	go func() {
		defer close(done)
		code, _, errs = e.releasectl("deploy", url, "--wait", "2m")
	}()
	// Restart MinIO once the rollout has begun.
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The first deploy wrote generations 1 (stage) and 2 (activate).
		if d, _, err := e.bucket.Desired(context.Background()); err == nil && d.Generation >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rollout never began")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := e.m.Restart(); err != nil {
		t.Fatal(err)
	}
	<-done
	if code == 0 {
		e.allServe("d1")
	} else {
		// Failed cleanly: every host serves one release, and a retry
		// completes.
		t.Logf("the rollout failed across the restart (exit %d): %s", code, errs)
		// A write whose answer was lost may still have happened: the
		// hosts then converge on it. Either way they end on one release.
		deadline := time.Now().Add(30 * time.Second)
		for {
			first, same := e.hosts[0].served(), true
			for _, h := range e.hosts[1:] {
				same = same && h.served() == first
			}
			if same {
				break
			}
			if time.Now().After(deadline) {
				e.allServe(first)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.mustFleet("deploy", e.upload("d2", nil))
		e.allServe("d2")
	}
	e.checkStores()
}

// TestFleetHealthRollback: a member whose own health check fails after
// the activation rolls itself back and reports it; the deploy fails naming
// it (the others are live on the new release: the operator decides, e.g.
// with fleet rollback, which puts every host back).
func TestFleetHealthRollback(t *testing.T) {
	e := newEnv(t, 3, nil)
	// web2 checks its own nginx for the first release's marker: every
	// later release fails its check there.
	h := e.hosts[1]
	e.mustFleet("deploy", e.upload("f0", nil))
	h.kill()
	h.extra = fmt.Sprintf("  [site.health]\n  urls = [%q]\n  expect_body = \"release:f0\"\n  interval = \"100ms\"\n  failures = 2\n  grace = \"2s\"\n", h.web.URL+"/")
	h.start()
	h.waitReport()
	code, _, errs := e.releasectl("deploy", e.upload("f1", nil))
	if code != 1 || !strings.Contains(errs, "web2") || !strings.Contains(errs, "health check") {
		t.Fatalf("deploy failing web2's health check: exit %d, want 1 naming web2 and its health check:\n%s", code, errs)
	}
	if got := h.served(); got != "f0" {
		t.Errorf("web2 serves %q after its health-check rollback, want f0", got)
	}
	r, err := e.bucket.Host(context.Background(), "web2")
	if err != nil || r.RolledBack == "" || r.State != fleet.StateFailed {
		t.Errorf("web2's report after its rollback: %+v %v", r, err)
	}
	e.mustFleet("rollback")
	e.allServe("f0")
	e.checkStores()
}

// TestFleetLongStagingKeepsReporting: members keep their heartbeat while
// they stage, so a stage longer than the operator's heartbeat timeout is
// not taken for a dead member.
func TestFleetLongStagingKeepsReporting(t *testing.T) {
	e := newEnv(t, 2, nil)
	e.mustFleet("deploy", e.upload("g0", nil))
	big := loadtest.Site("g1")
	for i := range 6000 {
		big[fmt.Sprintf("p/%04d.html", i)] = fmt.Appendf(nil, "<!doctype html><title>%d</title><p>release:g1 page %d</p>\n", i, i)
	}
	start := time.Now()
	e.mustFleet("deploy", e.upload("g1", big), "--heartbeat-timeout", "2500ms")
	t.Logf("a 6,000-page deploy with heartbeats every 1s and a 2.5s timeout took %s", time.Since(start).Round(time.Millisecond))
	e.allServe("g1")
}

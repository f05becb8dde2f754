package daemon_test

// End-to-end tests: they build release-agent and releasectl, and drive the
// built binaries with systemd's own tools (systemd-socket-activate, a
// NOTIFY_SOCKET listener), a second uid, and a real sshd on 127.0.0.1.

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
)

// need returns tool's path, or skips (outside CI) / fails (in CI).
// need returns the path of tool, or skips (fails in CI) when it is missing.
func need(t *testing.T, tool string) string {
	t.Helper()
	return testenv.Command(t, tool)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root (a second uid, useradd) in CI")
		}
		t.Skip("needs root (a second uid, useradd)")
	}
}

// pubDir makes a directory every user can traverse (t.TempDir is 0700).
func pubDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ra-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// bins builds release-agent and releasectl once per test run into a
// directory every user can read.
func bins(t *testing.T) (agent, ctl string) {
	t.Helper()
	return testenv.Binaries(t)
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// notifications listens on a NOTIFY_SOCKET and collects the messages.
type notifications struct {
	path string
	mu   sync.Mutex
	msgs []string // one assignment per element, in arrival order
}

func listenNotify(t *testing.T, dir string) *notifications {
	t.Helper()
	n := &notifications{path: filepath.Join(dir, "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, strings.Split(strings.TrimSpace(string(buf[:k])), "\n")...)
			n.mu.Unlock()
		}
	}()
	return n
}

// wait polls until a message after index from matches re, and returns the
// index after it.
func (n *notifications) wait(t *testing.T, from int, re string) int {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		n.mu.Lock()
		for i := from; i < len(n.msgs); i++ {
			if rx.MatchString(n.msgs[i]) {
				n.mu.Unlock()
				return i + 1
			}
		}
		n.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	t.Fatalf("no sd_notify message matching %q after #%d; got %q", re, from, n.msgs)
	return 0
}

func (n *notifications) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.msgs)
}

// poll calls cond until it reports true or the deadline passes.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeTar writes a tar of files to dir/.name.tmp and renames it to
// dir/name, as scp+mv or rsync do.
func writeTar(t *testing.T, dir, name string, files map[string]string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for p, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func page(title string) string {
	return "<!doctype html><html><head><title>" + title + "</title></head><body><h1>" + title + "</h1></body></html>\n"
}

// siteDir writes a one-page site into a new directory.
func siteDir(t *testing.T, parent, title string) string {
	t.Helper()
	d, err := os.MkdirTemp(parent, "src-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	if err := os.WriteFile(filepath.Join(d, "index.html"), []byte(page(title)), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func current(t *testing.T, root string) string {
	t.Helper()
	l, err := os.Readlink(filepath.Join(root, "current"))
	if err != nil {
		return ""
	}
	return filepath.Base(l)
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSocketActivatedLifecycle: socket activation by systemd-socket-activate,
// READY/STATUS/WATCHDOG/RELOADING/STOPPING on a NOTIFY_SOCKET, an inbox
// deploy, a good and a bad reload.
func TestSocketActivatedLifecycle(t *testing.T) {
	ssa := need(t, "systemd-socket-activate")
	agent, _ := bins(t)
	dir := pubDir(t)
	sock := filepath.Join(dir, "control.sock")
	inbox := filepath.Join(dir, "inbox")
	cfg := filepath.Join(dir, "config.toml")
	base := fmt.Sprintf(`[daemon]
control_socket = %q
[[site]]
name = "www"
root = %q
[site.triggers]
inbox = %q
`, sock, filepath.Join(dir, "www"), inbox)
	writeFile(t, cfg, base)
	n := listenNotify(t, dir)
	var stderr syncBuffer
	hookAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(ssa, "-l", sock, "-l", hookAddr, "--fdname=control:webhook",
		"-E", "NOTIFY_SOCKET="+n.path, "-E", "WATCHDOG_USEC=800000",
		agent, "--config", cfg)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", stderr.String())
		}
	})
	poll(t, "the activation socket", func() bool { _, err := os.Stat(sock); return err == nil })
	if n.count() != 0 {
		t.Fatalf("notifications before the first connection: %q", n.msgs)
	}
	// The first connection starts the daemon.
	c := &client.Client{Socket: sock}
	ctx := context.Background()
	v, err := c.Ping(ctx)
	if err != nil {
		t.Fatalf("ping through the activated socket: %v", err)
	}
	t.Logf("daemon version %q", v)
	i := n.wait(t, 0, `^READY=1$`)
	n.wait(t, 0, `^STATUS=www: nothing live, idle$`)
	n.wait(t, i, `^WATCHDOG=1$`)
	if strings.Contains(stderr.String(), "listening name=control") || !strings.Contains(stderr.String(), `socket-activated listener" name=control`) {
		t.Errorf("daemon did not use the activated control socket:\n%s", stderr.String())
	}
	// The activated webhook listener answers (no site has a webhook).
	resp, err := http.Post("http://"+hookAddr+"/v0/hook/www", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("activated webhook listener: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(stderr.String(), `socket-activated listener" name=webhook`) {
		t.Errorf("webhook listener: status %d\n%s", resp.StatusCode, stderr.String())
	}

	// Inbox deploy.
	writeTar(t, inbox, "site.tar", map[string]string{"index.html": page("one")})
	poll(t, "inbox/done/site.tar", func() bool { _, err := os.Stat(filepath.Join(inbox, "done", "site.tar")); return err == nil })
	if cur := current(t, filepath.Join(dir, "www")); cur != "v1" {
		t.Fatalf("current = %q after the inbox deploy", cur)
	}
	n.wait(t, i, `^STATUS=www: v1 live, idle$`)
	n.wait(t, 0, `^STATUS=www: nothing live, deploying inbox site.tar$`)
	h, err := c.History(ctx, api.Target{Site: "www"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range h.Events {
		if ev.Event == releases.EvActivated && ev.Who.Via == "trigger:inbox" && ev.Who.UID == os.Getuid() {
			found = true
		}
	}
	if !found {
		t.Errorf("no activation by trigger:inbox (uid %d) in the journal: %+v", os.Getuid(), h.Events)
	}
	// A half-written file (not renamed in) is not deployed.
	writeFile(t, filepath.Join(inbox, ".partial.tar"), "junk")

	// Good reload: a second site appears.
	pid := cmd.Process.Pid
	mark := n.count()
	writeFile(t, cfg, base+fmt.Sprintf("[[site]]\nname = \"docs\"\nroot = %q\n", filepath.Join(dir, "docs")))
	syscall.Kill(pid, syscall.SIGHUP)
	j := n.wait(t, mark, `^RELOADING=1$`)
	n.wait(t, j, `^READY=1$`)
	sites, err := c.Sites(ctx)
	if err != nil || len(sites.Sites) != 2 {
		t.Fatalf("sites after a good reload = %+v, %v", sites, err)
	}
	n.wait(t, j, `^STATUS=www: v1 live, idle; docs: nothing live, idle$`)

	// Bad reload: rejected, the old configuration keeps running.
	mark = n.count()
	writeFile(t, cfg, base+"[[site]]\nname = \"docs\"\nrooot = \"/x\"\n")
	syscall.Kill(pid, syscall.SIGHUP)
	j = n.wait(t, mark, `^RELOADING=1$`)
	n.wait(t, j, `^READY=1$`)
	n.wait(t, j, `^STATUS=reload rejected: .*config.toml:\d+: key "site\[1\]\.rooot": unknown key`)
	sites, err = c.Sites(ctx)
	if err != nil || len(sites.Sites) != 2 {
		t.Fatalf("sites after a bad reload = %+v, %v", sites, err)
	}
	writeTar(t, inbox, "site2.tar", map[string]string{"index.html": page("two")})
	poll(t, "inbox/done/site2.tar", func() bool { _, err := os.Stat(filepath.Join(inbox, "done", "site2.tar")); return err == nil })
	if cur := current(t, filepath.Join(dir, "www")); cur != "v2" {
		t.Fatalf("current = %q after the second inbox deploy", cur)
	}
	if _, err := os.Stat(filepath.Join(inbox, ".partial.tar")); err != nil {
		t.Errorf("the dot file was touched: %v", err)
	}

	// Stop.
	mark = n.count()
	syscall.Kill(pid, syscall.SIGTERM)
	n.wait(t, mark, `^STOPPING=1$`)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("release-agent exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("release-agent did not exit after SIGTERM")
	}
}

// daemon starts the built release-agent (listening itself) on cfg and
// returns a stop function.
func daemon(t *testing.T, agent, cfg, sock string) (stop func() error, stderr *syncBuffer) {
	t.Helper()
	stderr = &syncBuffer{}
	cmd := exec.Command(agent, "--config", cfg)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := &client.Client{Socket: sock}
	poll(t, "the control socket", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("release-agent exited: %v\n%s", err, stderr.String())
		default:
		}
		_, err := c.Ping(context.Background())
		return err == nil
	})
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err = <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				err = errors.New("no exit after SIGTERM")
			}
		})
		return err
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", stderr.String())
		}
	})
	return stop, stderr
}

var rolledRE = regexp.MustCompile(`rolled back to (v\d+), ([0-9.]+)s after the swap`)

// TestHealthCheckRollback: a release that fails its health check (served
// from ROOT/current by a real HTTP server) is rolled back at once.
func TestHealthCheckRollback(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	// The "web server": serves ROOT/current, resolving the symlink on
	// every request like nginx.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(filepath.Join(root, "current")))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
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
timeout = "5s"
`, sock, mport, root, ln.Addr()))
	daemon(t, agent, cfg, sock)
	c := &client.Client{Socket: sock}
	ctx := context.Background()
	if _, err := c.Deploy(ctx, api.DeployRequest{Source: siteDir(t, dir, "healthy one"), Activate: true}); err != nil {
		t.Fatalf("deploy of a healthy release: %v", err)
	}
	if cur := current(t, root); cur != "v1" {
		t.Fatalf("current = %q", cur)
	}
	_, err = c.Deploy(ctx, api.DeployRequest{Source: siteDir(t, dir, "broken"), Activate: true})
	if err == nil {
		t.Fatal("deploy of an unhealthy release succeeded")
	}
	m := rolledRE.FindStringSubmatch(err.Error())
	if m == nil || m[1] != "v1" {
		t.Fatalf("error %q does not report the rollback to v1", err)
	}
	t.Logf("health check failure: swap to rollback %ss (%v)", m[2], err)
	if cur := current(t, root); cur != "v1" {
		t.Fatalf("current = %q after the failed health check", cur)
	}
	h, err := c.History(ctx, api.Target{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rb *releases.Event
	for k := range h.Events {
		if h.Events[k].Event == releases.EvRolledBack {
			rb = &h.Events[k]
		}
	}
	if rb == nil || rb.Who.Via != "health-check" || rb.From != "v2" {
		t.Fatalf("journal has no rollback by the health check: %+v", h.Events)
	}
	if !strings.Contains(rb.Detail+rb.Error, "health check of v2 failed") {
		t.Errorf("the rollback does not record why: %+v", rb)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`release_agent_deploys_total{outcome="ok",site="www"} 1`,
		`release_agent_deploys_total{outcome="failed",site="www"} 1`,
		`release_agent_rollbacks_total{cause="health-check",site="www"} 1`,
		`release_agent_health_check_failures_total{site="www"} 1`,
		`release_agent_live_release{site="www"} 1`,
		`release_agent_health_rollback_seconds{site="www"} ` + m[2][:1],
		`release_agent_last_success_timestamp_seconds{site="www"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

const testUser = "ra-e2e"
const testGroup = "ra-e2e-deploy"

// testUID creates (once) a system user to act as a second uid and
// returns its uid and gid.
func testUID(t *testing.T) (uid, gid int) {
	t.Helper()
	needRoot(t)
	need(t, "useradd")
	if _, err := user.Lookup(testUser); err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/bin/sh", "--home-dir", "/nonexistent", testUser).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd: %v\n%s", err, out)
		}
	}
	if _, err := user.LookupGroup(testGroup); err != nil {
		if out, err := exec.Command("groupadd", "--system", testGroup).CombinedOutput(); err != nil {
			t.Fatalf("groupadd: %v\n%s", err, out)
		}
	}
	u, err := user.Lookup(testUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// setWriter adds or removes the test user from the write group.
func setWriter(t *testing.T, on bool) {
	t.Helper()
	args := []string{"-d", testUser, testGroup}
	if on {
		args = []string{"-a", testUser, testGroup}
	}
	out, err := exec.Command("gpasswd", args...).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "is not a member") {
		t.Fatalf("gpasswd %v: %v\n%s", args, err, out)
	}
}

// runAs runs releasectl as uid and returns its exit code and output.
func runAs(t *testing.T, uid, gid int, ctl string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(ctl, args...)
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("releasectl %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// TestControlPermissions: root may change things, another uid only reads,
// until it is in the configured write group; the journal names the peer.
func TestControlPermissions(t *testing.T) {
	uid, gid := testUID(t)
	agent, ctl := bins(t)
	dir := pubDir(t)
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
control_socket_mode = "0666"
control_group = %q
[[site]]
name = "www"
root = %q
`, sock, testGroup, filepath.Join(dir, "www")))
	setWriter(t, false)
	daemon(t, agent, cfg, sock)
	for _, title := range []string{"one", "two", "three"} {
		if code, _, errs := runAs(t, -1, -1, ctl, "--socket", sock, "deploy", siteDir(t, dir, title)); code != 0 {
			t.Fatalf("root deploy: exit %d: %s", code, errs)
		}
	}
	// The other uid reads.
	code, out, errs := runAs(t, uid, gid, ctl, "--socket", sock, "--json", "status")
	if code != 0 || !strings.Contains(out, `"v3"`) {
		t.Fatalf("reader status: exit %d\n%s\n%s", code, out, errs)
	}
	// ... and may not roll back.
	code, out, errs = runAs(t, uid, gid, ctl, "--socket", sock, "rollback")
	if code != api.ExitFailed || !strings.Contains(errs, "only root and members of group "+testGroup+" may (you are "+testUser+")") {
		t.Fatalf("reader rollback: exit %d\n%s\n%s", code, out, errs)
	}
	if cur := current(t, filepath.Join(dir, "www")); cur != "v3" {
		t.Fatalf("current = %q after a refused rollback", cur)
	}
	// In the write group it may; the journal names it.
	setWriter(t, true)
	t.Cleanup(func() { setWriter(t, false) })
	code, out, errs = runAs(t, uid, gid, ctl, "--socket", sock, "rollback")
	if code != 0 {
		t.Fatalf("writer rollback: exit %d\n%s\n%s", code, out, errs)
	}
	if cur := current(t, filepath.Join(dir, "www")); cur != "v2" {
		t.Fatalf("current = %q after the rollback", cur)
	}
	h, err := (&client.Client{Socket: sock}).History(context.Background(), api.Target{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := h.Events[len(h.Events)-1]
	if last.Event != releases.EvRolledBack || last.Who.UID != uid || last.Who.User != testUser || last.Who.Via != "control" || last.Who.PID == 0 {
		t.Fatalf("last journal event = %+v, want a rollback by %s (uid %d) via control", last, testUser, uid)
	}
}

// TestSSH: `ssh -p PORT 127.0.0.1 releasectl rollback` through a real sshd,
// and a key restricted to `releasectl ssh-command --site www`.
func TestSSH(t *testing.T) {
	uid, gid := testUID(t)
	sshd := need(t, "sshd")
	ssh := need(t, "ssh")
	keygen := need(t, "ssh-keygen")
	need(t, "usermod")
	agent, ctl := bins(t)
	dir := pubDir(t)
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
control_socket_mode = "0666"
control_group = %q
[[site]]
name = "www"
root = %q
`, sock, testGroup, filepath.Join(dir, "www")))
	setWriter(t, true)
	t.Cleanup(func() { setWriter(t, false) })
	daemon(t, agent, cfg, sock)
	for _, title := range []string{"one", "two", "three"} {
		if code, _, errs := runAs(t, -1, -1, ctl, "--socket", sock, "deploy", siteDir(t, dir, title)); code != 0 {
			t.Fatalf("deploy: exit %d: %s", code, errs)
		}
	}
	// PATH on the host: a releasectl that talks to this test's daemon.
	pathDir := filepath.Join(dir, "bin")
	os.Mkdir(pathDir, 0o755)
	wrapper := filepath.Join(pathDir, "releasectl")
	writeFile(t, wrapper, fmt.Sprintf("#!/bin/sh\nexec %s --socket %s \"$@\"\n", ctl, sock))
	os.Chmod(wrapper, 0o755)

	if out, err := exec.Command("usermod", "-p", "*", testUser).CombinedOutput(); err != nil {
		t.Fatalf("usermod: %v\n%s", err, out)
	}
	os.MkdirAll("/run/sshd", 0o755)
	for _, k := range []string{"host", "user", "restricted", "deployer"} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	for _, k := range []string{"user", "restricted", "deployer"} {
		os.Chown(filepath.Join(dir, k), uid, gid)
	}
	pub := func(k string) string {
		b, err := os.ReadFile(filepath.Join(dir, k+".pub"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	keys := filepath.Join(dir, "authorized_keys")
	writeFile(t, keys, pub("user")+"\n"+
		fmt.Sprintf("restrict,command=\"releasectl ssh-command --site www\" %s\n", pub("restricted"))+
		fmt.Sprintf("restrict,command=\"releasectl ssh-command --site www --allow +deploy\" %s\n", pub("deployer")))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sshdCfg := filepath.Join(dir, "sshd_config")
	writeFile(t, sshdCfg, fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The test's files live below /tmp (world-writable): StrictModes would
# refuse the authorized_keys file there.
StrictModes no
PidFile none
AllowUsers %s
SetEnv PATH=%s:/usr/bin:/bin
`, port, filepath.Join(dir, "host"), keys, testUser, pathDir))
	var sshdErr syncBuffer
	sd := exec.Command(sshd, "-f", sshdCfg, "-D", "-e")
	sd.Stderr = &sshdErr
	if err := sd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sd.Process.Kill()
		sd.Wait()
		if t.Failed() {
			t.Logf("sshd:\n%s", sshdErr.String())
		}
	})
	poll(t, "sshd to listen", func() bool { return strings.Contains(sshdErr.String(), "Server listening on 127.0.0.1") })

	run := func(key string, remote ...string) (int, string, string) {
		t.Helper()
		args := append([]string{"-F", "/dev/null", "-p", strconv.Itoa(port), "-i", filepath.Join(dir, key),
			"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
			testUser + "@127.0.0.1"}, remote...)
		return runAs(t, uid, gid, ssh, args...)
	}
	code, out, errs := run("user", "releasectl", "rollback")
	if code != 0 || !strings.Contains(out+errs, "v2") {
		t.Fatalf("ssh releasectl rollback: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	t.Logf("ssh releasectl rollback: %s", strings.TrimSpace(out))
	if cur := current(t, filepath.Join(dir, "www")); cur != "v2" {
		t.Fatalf("current = %q after ssh releasectl rollback", cur)
	}
	code, out, errs = run("user", "releasectl", "activate", "v99")
	if code != api.ExitFailed {
		t.Errorf("ssh releasectl activate v99: exit %d, want %d\n%s%s", code, api.ExitFailed, out, errs)
	}

	// The restricted key.
	if code, out, _ := runAs(t, -1, -1, ctl, "--help"); code != 0 || !strings.Contains(out, "ssh-command") {
		if os.Getenv("CI") != "" {
			t.Fatal("releasectl has no ssh-command verb")
		}
		t.Skip("releasectl has no ssh-command verb yet (cli/ wires sshcmd.Parse)")
	}
	code, out, errs = run("restricted", "releasectl", "rollback")
	if code != 0 || current(t, filepath.Join(dir, "www")) != "v1" {
		t.Fatalf("restricted rollback: exit %d, current %s\n%s%s", code, current(t, filepath.Join(dir, "www")), out, errs)
	}
	code, out, errs = run("restricted", "releasectl", "prune", "--keep", "1")
	if code != api.ExitUsage || !strings.Contains(errs, "not allowed") {
		t.Errorf("restricted prune: exit %d, want %d\n%s%s", code, api.ExitUsage, out, errs)
	}
	code, out, errs = run("restricted", "releasectl rollback; touch "+filepath.Join(dir, "pwned"))
	if code != api.ExitUsage {
		t.Errorf("restricted command with ';': exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("the restricted key ran a shell command")
	}
	code, out, errs = run("restricted", "releasectl", "--site", "other", "status")
	if code != api.ExitUsage {
		t.Errorf("restricted --site: exit %d\n%s%s", code, out, errs)
	}

	// A key allowed to deploy deploys only what its user can read: the
	// daemon (root) could read a root-only directory, the SSH user cannot
	// (issue 18).
	secret := siteDir(t, dir, "secret")
	writeFile(t, filepath.Join(secret, "key.pem"), "SECRET KEY\n")
	if err := os.Chmod(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	before := current(t, filepath.Join(dir, "www"))
	code, out, errs = run("deployer", "releasectl", "deploy", "--no-validate", secret)
	if code != api.ExitFailed || !strings.Contains(errs, "permission denied") || !strings.Contains(errs, secret) {
		t.Fatalf("ssh deploy of an unreadable directory: exit %d\n%s%s", code, out, errs)
	}
	if cur := current(t, filepath.Join(dir, "www")); cur != before {
		t.Fatalf("current moved from %s to %s after a refused deploy", before, cur)
	}
	readable := siteDir(t, dir, "four")
	code, out, errs = run("deployer", "releasectl", "deploy", readable)
	if code != 0 || current(t, filepath.Join(dir, "www")) == before {
		t.Fatalf("ssh deploy of a readable directory: exit %d, current %s\n%s%s", code, current(t, filepath.Join(dir, "www")), out, errs)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type syncBuffer = testenv.SyncBuffer

// TestShutdownCancelsDeploy: SIGTERM while a big inbox archive is being
// deployed cancels it cleanly: staging removed, current untouched, the
// archive left in the inbox for the next start.
func TestShutdownCancelsDeploy(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	inbox := filepath.Join(dir, "inbox")
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
[[site]]
name = "www"
root = %q
[site.triggers]
inbox = %q
[site.validate]
policy = "off"
`, sock, root, inbox))
	n := listenNotify(t, dir)
	stderr := &syncBuffer{}
	cmd := exec.Command(agent, "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", stderr.String())
		}
	})
	n.wait(t, 0, `^READY=1$`)
	writeTar(t, inbox, "small.tar", map[string]string{"index.html": page("one")})
	poll(t, "the first deploy", func() bool { return current(t, root) == "v1" })

	// A big archive: 96 MiB of incompressible data in 96 files.
	files := map[string]string{"index.html": page("big")}
	buf := make([]byte, 1<<20)
	for i := range 96 {
		for j := range buf {
			buf[j] = byte((i*7919 + j*j*31 + j>>3) ^ (j >> 11))
		}
		files[fmt.Sprintf("blob/%02d.bin", i)] = string(buf)
	}
	mark := n.count()
	writeTar(t, inbox, "big.tar", files)
	n.wait(t, mark, `^STATUS=www: v1 live, deploying inbox big.tar$`)
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	n.wait(t, mark, `^STOPPING=1$`)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("release-agent exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("release-agent did not stop")
	}
	if cur := current(t, root); cur != "v1" {
		t.Fatalf("current = %q after a deploy cancelled by SIGTERM (want v1; if v2, the deploy finished before SIGTERM arrived)", cur)
	}
	ents, err := os.ReadDir(filepath.Join(root, "state", "staging"))
	if err != nil || len(ents) != 0 {
		t.Errorf("staging after the cancelled deploy: %v, %v", ents, err)
	}
	if _, err := os.Stat(filepath.Join(inbox, "big.tar")); err != nil {
		t.Errorf("the cancelled archive left the inbox: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "releases", "v2")); err == nil {
		t.Error("releases/v2 exists after the cancelled deploy")
	}
	if !strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("the log does not show the cancellation:\n%s", stderr.String())
	}
}

// TestWebhookDeploysFromS3: MinIO's bucket notification webhook reaches the
// daemon's webhook listener, and the uploaded archive is deployed from S3.
func TestWebhookDeploysFromS3(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	tok := testenv.RandomString(32)
	tokFile := filepath.Join(dir, "token")
	writeFile(t, tokFile, tok)
	port := testenv.FreePort(t)
	base := fmt.Sprintf(`[daemon]
control_socket = %q
webhook_listen = "127.0.0.1:%d"
webhook_token_file = %q
[[site]]
name = "www"
root = %q
source = "s3://site/site.tar.gz"
[site.triggers]
webhook = true
`, sock, port, tokFile, root)
	writeFile(t, cfg, base)
	n := listenNotify(t, dir)
	stderr := &syncBuffer{}
	cmd := exec.Command(agent, "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", stderr.String())
		}
	})
	n.wait(t, 0, `^READY=1$`)

	m := testenv.StartMinIO(t, &testenv.MinIOOptions{Env: testenv.WebhookEnv("RA", fmt.Sprintf("http://127.0.0.1:%d/v0/hook/www", port), tok)})
	m.MakeBucket(t, "site")
	arn, err := notification.NewArnFromString(testenv.WebhookARN("RA"))
	if err != nil {
		t.Fatal(err)
	}
	qc := notification.NewConfig(arn)
	qc.AddEvents(notification.ObjectCreatedAll)
	var nc notification.Configuration
	nc.AddQueue(qc)
	m.SetBucketNotification(t, "site", nc)
	// Tell the daemon where S3 is (a reload applies [s3]).
	creds := filepath.Join(dir, "credentials")
	writeFile(t, creds, fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", m.AccessKey, m.SecretKey))
	writeFile(t, cfg, base+fmt.Sprintf("[s3]\nendpoint = %q\ninsecure = true\nregion = \"us-east-1\"\ncredentials_file = %q\n", m.Endpoint, creds))
	mark := n.count()
	syscall.Kill(cmd.Process.Pid, syscall.SIGHUP)
	j := n.wait(t, mark, `^RELOADING=1$`)
	n.wait(t, j, `^READY=1$`)

	upload := func(title string) {
		t.Helper()
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		body := page(title)
		tw.WriteHeader(&tar.Header{Name: "index.html", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
		tw.Close()
		if _, err := m.Client.PutObject(context.Background(), "site", "site.tar", bytes.NewReader(b.Bytes()), int64(b.Len()), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The site's source is site.tar.gz: another key does not deploy.
	// MinIO sends the event asynchronously: wait until the daemon has
	// ignored it, or it may arrive after the reload below and match.
	upload("other key")
	poll(t, "the event for another key", func() bool {
		return strings.Contains(stderr.String(), "webhook event ignored")
	})
	writeFile(t, cfg, strings.Replace(base, "site.tar.gz", "site.tar", 1)+fmt.Sprintf("[s3]\nendpoint = %q\ninsecure = true\nregion = \"us-east-1\"\ncredentials_file = %q\n", m.Endpoint, creds))
	mark = n.count()
	syscall.Kill(cmd.Process.Pid, syscall.SIGHUP)
	j = n.wait(t, mark, `^RELOADING=1$`)
	n.wait(t, j, `^READY=1$`)
	if cur := current(t, root); cur != "" {
		t.Fatalf("current = %q: an upload to another key was deployed", cur)
	}
	start := time.Now()
	upload("from s3")
	poll(t, "the webhook deploy", func() bool { return current(t, root) == "v1" })
	t.Logf("upload to live through the webhook: %v", time.Since(start).Round(time.Millisecond))
	b, err := os.ReadFile(filepath.Join(root, "current", "index.html"))
	if err != nil || !strings.Contains(string(b), "from s3") {
		t.Fatalf("served index.html = %q, %v", b, err)
	}
	// The journal line follows the swap.
	var act *releases.Event
	var h *api.HistoryResult
	poll(t, "the activation in the journal", func() bool {
		var err error
		h, err = (&client.Client{Socket: sock}).History(context.Background(), api.Target{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for k := range h.Events {
			if h.Events[k].Event == releases.EvActivated {
				act = &h.Events[k]
			}
		}
		return act != nil
	})
	if act == nil || act.Who.Via != "trigger:webhook" || act.Source != "s3://site/site.tar" {
		t.Fatalf("activation in the journal = %+v (events %+v)", act, h.Events)
	}
}

// TestInboxCoalesces: archives that arrive while a deploy runs are
// coalesced: only the newest is deployed next, the others are skipped.
func TestInboxCoalesces(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	inbox := filepath.Join(dir, "inbox")
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
[[site]]
name = "www"
root = %q
[site.triggers]
inbox = %q
[site.validate]
policy = "off"
`, sock, root, inbox))
	n := listenNotify(t, dir)
	stderr := &syncBuffer{}
	cmd := exec.Command(agent, "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", stderr.String())
		}
	})
	n.wait(t, 0, `^READY=1$`)
	// A big first archive keeps the loop busy while three more arrive.
	files := map[string]string{"index.html": page("big")}
	buf := make([]byte, 1<<20)
	for i := range 64 {
		for j := range buf {
			buf[j] = byte((i*7919 + j*j*31 + j>>3) ^ (j >> 11))
		}
		files[fmt.Sprintf("blob/%02d.bin", i)] = string(buf)
	}
	writeTar(t, inbox, "a-big.tar", files)
	n.wait(t, 0, `^STATUS=www: nothing live, deploying inbox a-big.tar$`)
	for _, name := range []string{"b.tar", "c.tar", "d.tar"} {
		writeTar(t, inbox, name, map[string]string{"index.html": page(name)})
	}
	poll(t, "d.tar to be deployed", func() bool {
		_, err := os.Stat(filepath.Join(inbox, "done", "d.tar"))
		return err == nil
	})
	for dirName, names := range map[string][]string{"done": {"a-big.tar", "d.tar"}, "skipped": {"b.tar", "c.tar"}} {
		for _, nm := range names {
			if _, err := os.Stat(filepath.Join(inbox, dirName, nm)); err != nil {
				// d.tar may be picked before the loop was free only if the
				// big deploy already ended: then b or c ran. Report it.
				t.Errorf("%s not in %s/: %v", nm, dirName, err)
			}
		}
	}
	if cur := current(t, root); cur != "v2" {
		t.Errorf("current = %q, want v2 (a-big then d)", cur)
	}
	b, _ := os.ReadFile(filepath.Join(inbox, "skipped", "b.tar.log"))
	if !strings.Contains(string(b), "superseded by inbox") {
		t.Errorf("skipped/b.tar.log = %q", b)
	}
}

// TestBadConfigRefusesToStart: the daemon does not start on a bad
// configuration and names the file, line and key of every problem,
// including the host's (a control group that does not exist);
// --check-config agrees.
func TestBadConfigRefusesToStart(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	cfg := filepath.Join(dir, "config.toml")
	www := filepath.Join(dir, "www")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
control_group = "ra-no-such-group-8d1c"
[[site]]
name = "www"
root = %q
keep = 0
[[site]]
name = "sys"
root = "/etc"
[[site]]
name = "inner"
root = %q
keep = "five"
`, filepath.Join(dir, "c.sock"), www, filepath.Join(www, "releases", "inner")))
	want := []string{
		cfg + `:3: key "daemon.control_group": invalid value: group "ra-no-such-group-8d1c" does not exist on this host`,
		cfg + `:7: key "site[0].keep": invalid value: 0: must be at least 1`,
		cfg + `:10: key "site[1].root": invalid value: "/etc" is a system directory`,
		cfg + `:13: key "site[2].root": invalid value: ` + fmt.Sprintf("%q", filepath.Join(www, "releases", "inner")) + ` is inside the releases directory of the store of site[0]`,
		cfg + `:14: key "site[2].keep": invalid value`,
	}
	for _, args := range [][]string{{"--config", cfg}, {"--check-config", "--config", cfg}} {
		var stderr bytes.Buffer
		cmd := exec.Command(agent, args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("release-agent %v: %v\n%s", args, err, stderr.String())
		}
		for _, w := range want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("release-agent %v: stderr lacks %q:\n%s", args, w, stderr.String())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "c.sock")); err == nil {
		t.Error("the control socket was created by a daemon with a bad configuration")
	}
	out, err := exec.Command(agent, "--help").Output()
	if err != nil || !strings.Contains(string(out), "--check-config") || !strings.Contains(string(out), "SIGHUP") {
		t.Errorf("--help: %v\n%s", err, out)
	}
	out, err = exec.Command(agent, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "release-agent ") {
		t.Errorf("--version: %v %q", err, out)
	}
}

// TestDeployCallerRights: a member of the write group deploys only what it
// can read itself. releasectl reads the source with the caller's rights
// and streams it; the daemon never opens the path (issue 18).
func TestDeployCallerRights(t *testing.T) {
	uid, gid := testUID(t)
	agent, ctl := bins(t)
	dir := pubDir(t)
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	root := filepath.Join(dir, "www")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
control_socket_mode = "0666"
control_group = %q
[[site]]
name = "www"
root = %q
`, sock, testGroup, root))
	setWriter(t, true)
	t.Cleanup(func() { setWriter(t, false) })
	daemon(t, agent, cfg, sock)

	// A root-only directory: the daemon (root) could read it, the caller
	// cannot.
	secret := siteDir(t, dir, "secret")
	writeFile(t, filepath.Join(secret, "key.pem"), "SECRET KEY\n")
	if err := os.Chmod(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runAs(t, uid, gid, ctl, "--socket", sock, "--site", "www", "deploy", "--no-validate", secret)
	if code != api.ExitFailed || !strings.Contains(errs, "permission denied") || !strings.Contains(errs, secret) {
		t.Fatalf("deploy of an unreadable directory: exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Lstat(filepath.Join(root, "current")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("something went live after a refused deploy: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, releases.ReleasesDir)); len(ents) != 0 {
		t.Fatalf("releases after a refused deploy: %v", ents)
	}
	// The same for a root-only archive file (mode 0600).
	tarPath := filepath.Join(dir, "secret.tar")
	tf, err := os.OpenFile(tarPath, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	writeTarTo(t, tf, map[string]string{"index.html": "<!doctype html><title>secret</title>"})
	tf.Close()
	code, out, errs = runAs(t, uid, gid, ctl, "--socket", sock, "--site", "www", "deploy", "--no-validate", tarPath)
	if code != api.ExitFailed || !strings.Contains(errs, "permission denied") || !strings.Contains(errs, tarPath) {
		t.Fatalf("deploy of an unreadable archive: exit %d\n%s\n%s", code, out, errs)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, releases.ReleasesDir)); len(ents) != 0 {
		t.Fatalf("releases after a refused deploy: %v", ents)
	}

	// A directory it can read goes through the stream.
	pub := siteDir(t, dir, "public")
	code, out, errs = runAs(t, uid, gid, ctl, "--socket", sock, "--site", "www", "deploy", pub)
	if code != 0 {
		t.Fatalf("deploy of a readable directory: exit %d\n%s\n%s", code, out, errs)
	}
	id := strings.TrimSpace(out)
	if cur := current(t, root); cur != id {
		t.Fatalf("current = %q, want %q", cur, id)
	}
	b, err := os.ReadFile(filepath.Join(root, "current", "index.html"))
	if err != nil || !strings.Contains(string(b), "public") {
		t.Fatalf("published index.html: %q, %v", b, err)
	}
	st, err := releases.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Record(id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Source.Spec != pub || rec.Source.Kind != "stream:tar" || rec.Source.Meta["streamed"] != "true" || rec.Source.Meta["from"] != "dir" || rec.Who.UID != uid {
		t.Fatalf("record source = %+v, who = %+v; want %s streamed by uid %d", rec.Source, rec.Who, pub, uid)
	}

	// An archive on standard input, as over SSH: `releasectl deploy -`.
	var tarball bytes.Buffer
	writeTarTo(t, &tarball, map[string]string{"index.html": page("from stdin")})
	cmd := exec.Command(ctl, "--socket", sock, "--site", "www", "deploy", "-")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	cmd.Stdin = &tarball
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy -: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(root, "current", "index.html")); err != nil || !strings.Contains(string(b), "from stdin") {
		t.Fatalf("index.html after deploy -: %q, %v", b, err)
	}
}

// writeTarTo writes a tar of files to w.
func writeTarTo(t *testing.T, w io.Writer, files map[string]string) {
	t.Helper()
	tw := tar.NewWriter(w)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInboxRegularFilesOnly: a symlink renamed into the group-writable
// inbox (to a mode-600 archive, to a mode-700 directory) and a directory
// are not deployed: they go to failed/ with a log saying what they were.
func TestInboxRegularFilesOnly(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	inbox := filepath.Join(dir, "inbox")
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
[[site]]
name = "www"
root = %q
[site.triggers]
inbox = %q
[site.validate]
policy = "off"
`, sock, root, inbox))
	private := filepath.Join(dir, "private")
	os.Mkdir(private, 0o700)
	writeTar(t, private, "secret.tar", map[string]string{"index.html": page("secret")})
	os.Chmod(filepath.Join(private, "secret.tar"), 0o600)
	secretDir := filepath.Join(private, "site.d")
	os.Mkdir(secretDir, 0o700)
	writeFile(t, filepath.Join(secretDir, "index.html"), page("secret dir"))
	os.MkdirAll(inbox, 0o770)

	n := listenNotify(t, dir)
	stderr := &syncBuffer{}
	cmd := exec.Command(agent, "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", stderr.String())
		}
	})
	n.wait(t, 0, `^READY=1$`)
	plant := func(name string, make func(tmp string) error) {
		tmp := filepath.Join(inbox, ".tmp-"+name)
		if err := make(tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, name)); err != nil {
			t.Fatal(err)
		}
	}
	plant("link-file.tar", func(tmp string) error { return os.Symlink(filepath.Join(private, "secret.tar"), tmp) })
	plant("link-dir.tar", func(tmp string) error { return os.Symlink(secretDir, tmp) })
	plant("dir.tar", func(tmp string) error { return os.Mkdir(tmp, 0o755) })
	for name, want := range map[string]string{"link-file.tar": "is a symlink (to " + filepath.Join(private, "secret.tar"),
		"link-dir.tar": "is a symlink (to " + secretDir, "dir.tar": "is a directory"} {
		poll(t, "inbox/failed/"+name, func() bool {
			_, err := os.Lstat(filepath.Join(inbox, "failed", name+".log"))
			return err == nil
		})
		b, _ := os.ReadFile(filepath.Join(inbox, "failed", name+".log"))
		if !strings.Contains(string(b), want) || !strings.Contains(string(b), "not a regular file: refusing") {
			t.Errorf("failed/%s.log = %q; want it to say %q", name, b, want)
		}
		if _, err := os.Lstat(filepath.Join(inbox, "failed", name)); err != nil {
			t.Errorf("%s not in failed/: %v", name, err)
		}
		if !strings.Contains(stderr.String(), name) || !strings.Contains(stderr.String(), "not a regular file") {
			t.Errorf("no log line says why %s was refused", name)
		}
	}
	if cur := current(t, root); cur != "" {
		t.Errorf("current = %q: a refused entry was deployed", cur)
	}
	// A regular archive still goes through, read from the descriptor.
	writeTar(t, inbox, "ok.tar", map[string]string{"index.html": page("ok")})
	poll(t, "inbox/done/ok.tar", func() bool { _, err := os.Stat(filepath.Join(inbox, "done", "ok.tar")); return err == nil })
	if cur := current(t, root); cur != "v1" {
		t.Errorf("current = %q after a regular archive", cur)
	}
}

// TestValidateDirWithDaemon: with the daemon running, `releasectl validate
// DIR` checks DIR in releasectl's own process (the daemon refuses to read
// a directory for a caller) against the site's live release.
func TestValidateDirWithDaemon(t *testing.T) {
	agent, ctl := bins(t)
	dir := pubDir(t)
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
[[site]]
name = "www"
root = %q
`, sock, filepath.Join(dir, "www")))
	daemon(t, agent, cfg, sock)
	if code, _, errs := runAs(t, -1, -1, ctl, "--socket", sock, "deploy", siteDir(t, dir, "one")); code != 0 {
		t.Fatalf("deploy: exit %d: %s", code, errs)
	}
	good := siteDir(t, dir, "two")
	if code, out, errs := runAs(t, -1, -1, ctl, "--socket", sock, "validate", good); code != 0 {
		t.Fatalf("validate of a clean directory: exit %d\n%s%s", code, out, errs)
	}
	bad := siteDir(t, dir, "three")
	writeFile(t, filepath.Join(bad, "index.html"), `<!doctype html><title>x</title><a href="missing.html">x</a>`)
	if code, out, errs := runAs(t, -1, -1, ctl, "--socket", sock, "validate", bad); code != api.ExitRejected || !strings.Contains(out+errs, "missing.html") {
		t.Fatalf("validate of a broken directory: exit %d, want %d\n%s%s", code, api.ExitRejected, out, errs)
	}
}

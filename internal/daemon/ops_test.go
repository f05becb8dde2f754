package daemon_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/client"
	agent "github.com/example/release-agent/internal/daemon"
	"github.com/example/release-agent/internal/testutil/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestCheckConfigGolden")

// TestCheckConfigGolden: `release-agent --check-config` on each config in
// testdata/check-config prints what NAME.golden holds: for a broken file,
// every problem (file, line, key) in the order of the file and exit 1.
// The roots are checked as root, so the output does not depend on the
// host (TestCheckConfigRoots checks the roots).
func TestCheckConfigGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/check-config/*.toml")
	if len(files) < 4 {
		t.Fatalf("golden configs: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := agent.Main(context.Background(), []string{"--check-config", "--config", f, "--as-user", "root"}, "test", &stdout, &stderr)
			got := fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout.String(), stderr.String())
			golden := strings.TrimSuffix(f, ".toml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestCheckConfigGolden -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("--check-config %s:\n%s\nwant (%s):\n%s", f, got, golden, want)
			}
			// Every problem line names the file, a line and a key.
			if code == 1 {
				lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
				for _, l := range lines[:len(lines)-1] {
					if !regexp.MustCompile(`^` + regexp.QuoteMeta(f) + `:\d+: `).MatchString(l) {
						t.Errorf("problem without file and line: %q", l)
					}
				}
			}
		})
	}
}

// TestCheckConfigRoots: the site roots are checked as the service user
// (--as-user), and the message says the command that fixes it; done as
// it says, the check passes.
func TestCheckConfigRoots(t *testing.T) {
	as := "" // this user; nobody when root runs the tests
	if os.Geteuid() == 0 {
		as = "nobody"
	}
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	if err := os.Mkdir(root, 0o555); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf("[daemon]\ncontrol_group = \"\"\n[[site]]\nname = \"www\"\nroot = %q\n", root))
	args := []string{"--check-config", "--config", cfg}
	if as != "" {
		args = append(args, "--as-user", as)
	}
	var stdout, stderr bytes.Buffer
	if code := agent.Main(context.Background(), args, "test", &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cfg) + `:5: key "site\[0\].root": invalid value: "` + regexp.QuoteMeta(root) +
		`" is not writable by user (\S+) .*; fix: (install -d -o (\S+) -g (\S+) ` + regexp.QuoteMeta(root) + `) \(or the tmpfiles.d line: d ` +
		regexp.QuoteMeta(root) + ` 0755 (\S+) (\S+) -\)$`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	if as != "" && (m[1] != as || m[3] != as) {
		t.Errorf("checked as %s, fix for %s, want %s", m[1], m[3], as)
	}
	// The fix, as printed (chmod u+w when not root: install -d -o needs root).
	if os.Geteuid() == 0 {
		fix := strings.Fields(m[2])
		if out, err := exec.Command(fix[0], fix[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", m[2], err, out)
		}
	} else if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := agent.Main(context.Background(), args, "test", &stdout, &stderr); code != 0 {
		t.Fatalf("after the fix: exit %d\n%s", code, stderr.String())
	}
	if want := cfg + ": ok, 1 site(s), roots writable by user " + m[1]; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
}

// TestMetricsFromStart: scraped right after start, /metrics has
// release_agent_build_info and every counter of every configured site at
// zero. The daemon runs as under systemd with JOURNAL_STREAM set: every
// log line starts with its journald priority.
func TestMetricsFromStart(t *testing.T) {
	agent, _ := bins(t)
	dir := pubDir(t)
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	mport := testenv.FreePort(t)
	writeFile(t, cfg, fmt.Sprintf(`[daemon]
control_socket = %q
control_group = ""
metrics_listen = "127.0.0.1:%d"
[[site]]
name = "www"
root = %q
[[site]]
name = "docs"
root = %q
`, sock, mport, filepath.Join(dir, "www"), filepath.Join(dir, "docs")))
	stderr := &syncBuffer{}
	cmd := exec.Command(agent, "--config", cfg)
	cmd.Env = append(os.Environ(), "JOURNAL_STREAM=8:12345")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", stderr.String())
		}
	})
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
	var body string
	poll(t, "the metrics listener", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	out, err := exec.Command(agent, "--version").Output()
	version, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "release-agent ")
	if err != nil || !ok {
		t.Fatalf("--version: %v %q", err, out)
	}
	want := []string{
		fmt.Sprintf(`release_agent_build_info{goversion=%q,version=%q} 1`, runtime.Version(), version),
		`release_agent_config_reloads_total{result="ok"} 0`,
		`release_agent_config_reloads_total{result="rejected"} 0`,
	}
	for _, site := range []string{"www", "docs"} {
		for _, o := range []string{"ok", "rejected", "failed"} {
			want = append(want, fmt.Sprintf(`release_agent_deploys_total{outcome=%q,site=%q} 0`, o, site))
		}
		for _, c := range []string{"manual", "health-check", "activate"} {
			want = append(want, fmt.Sprintf(`release_agent_rollbacks_total{cause=%q,site=%q} 0`, c, site))
		}
		want = append(want,
			fmt.Sprintf(`release_agent_health_check_failures_total{site=%q} 0`, site),
			fmt.Sprintf(`release_agent_deploy_duration_seconds_count{site=%q} 0`, site),
			fmt.Sprintf(`release_agent_deploy_in_progress{site=%q} 0`, site))
	}
	for _, w := range want {
		if !strings.Contains(body, "\n"+w+"\n") {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	// Every counter family has a series for each site from start.
	for _, fam := range regexp.MustCompile(`(?m)^# TYPE (release_agent_\w+) counter$`).FindAllStringSubmatch(body, -1) {
		for _, site := range []string{"www", "docs"} {
			if fam[1] == "release_agent_config_reloads_total" {
				continue
			}
			if !regexp.MustCompile(`(?m)^` + fam[1] + `\{[^}]*site="` + site + `"[^}]*\} 0$`).MatchString(body) {
				t.Errorf("counter %s has no zero series for site %s", fam[1], site)
			}
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	ready := false
	for _, l := range lines {
		if !regexp.MustCompile(`^<[3467]>level=(DEBUG|INFO|WARN|ERROR) `).MatchString(l) {
			t.Errorf("log line without its journald priority: %q", l)
		}
		ready = ready || strings.HasPrefix(l, "<6>level=INFO msg=\"release-agent ready\"")
	}
	if !ready {
		t.Errorf("no <6> ready line in:\n%s", stderr.String())
	}
}

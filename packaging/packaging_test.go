// Package packaging holds the systemd units, sysusers/tmpfiles snippets,
// default configuration, man page and nfpm configuration of release-agent.
// Its tests check them with the tools that consume them: systemd-analyze,
// nfpm, lintian and dpkg.
package packaging

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/example/release-agent/internal/testutil/testenv"
)

var units = []string{"release-agent.service", "release-agent.socket", "release-agent-webhook.socket"}

// need returns the path of tool, or skips (fails in CI) when it is missing.
func need(t *testing.T, tool string) string {
	t.Helper()
	return testenv.Command(t, tool)
}

// unitDir copies the units into a temporary directory with ExecStart
// pointing at an executable that exists (verify checks it) and returns the
// directory and a MANPATH holding release-agent.8 (verify runs man for
// Documentation=).
func unitDir(t *testing.T) (dir, manpath string) {
	dir = t.TempDir()
	bin := filepath.Join(dir, "release-agent")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/bin/release-agent"), []byte(bin))
		if err := os.WriteFile(filepath.Join(dir, u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	manpath = t.TempDir()
	if err := os.MkdirAll(filepath.Join(manpath, "man8"), 0o755); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("man/release-agent.8")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(manpath, "man8", "release-agent.8"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, manpath
}

func TestVerifyUnits(t *testing.T) {
	sa := need(t, "systemd-analyze")
	need(t, "man")
	dir, manpath := unitDir(t)
	args := []string{"verify"}
	for _, u := range units {
		args = append(args, filepath.Join(dir, u))
	}
	cmd := exec.Command(sa, args...)
	cmd.Env = append(os.Environ(), "MANPATH="+manpath, "SYSTEMD_LOG_LEVEL=notice")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("systemd-analyze verify: %v\nstdout: %s\nstderr: %s", err, out, stderr.Bytes())
	}
}

// TestVerifyCatchesMistakes makes sure the verify test can fail: a unit
// with an unknown key produces output on stderr.
func TestVerifyCatchesMistakes(t *testing.T) {
	sa := need(t, "systemd-analyze")
	dir, manpath := unitDir(t)
	p := filepath.Join(dir, "release-agent.service")
	b, _ := os.ReadFile(p)
	b = bytes.Replace(b, []byte("\n[Service]\n"), []byte("\n[Service]\nProtectSystm=strict\n"), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", p)
	cmd.Env = append(os.Environ(), "MANPATH="+manpath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	if !strings.Contains(stderr.String(), "ProtectSystm") {
		t.Fatalf("verify did not report the misspelt key; stderr: %s", stderr.Bytes())
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for release-agent\.service: ([0-9.]+) (\w+)`)

func TestSecurityScore(t *testing.T) {
	sa := need(t, "systemd-analyze")
	dir, _ := unitDir(t)
	cmd := exec.Command(sa, "--offline=true", "--no-pager", "security", filepath.Join(dir, "release-agent.service"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure %s %s", m[1], m[2])
	switch string(m[2]) {
	case "SAFE", "OK":
	default:
		t.Errorf("exposure level %s %s, want OK or better", m[1], m[2])
	}
	if score > 4.9 {
		t.Errorf("exposure %.1f > 4.9", score)
	}
}

// TestDeb builds the packages with `make package` (packaging/Makefile.inc)
// into a temporary DIST, checks that the binaries are static stripped PIEs,
// runs lintian on the .deb and installs and removes it with dpkg.
func TestDeb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries and the packages")
	}
	for _, tool := range []string{"make", "file", "lintian", "dpkg", "gcc"} {
		need(t, tool)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("TestDeb needs root (dpkg -i) in CI")
		}
		t.Skip("dpkg -i needs root")
	}
	if out, err := exec.Command("dpkg-query", "-W", "release-agent").CombinedOutput(); err == nil {
		t.Skipf("release-agent is already installed on this machine (%s); not touching it", bytes.TrimSpace(out))
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dist := t.TempDir()
	mk := filepath.Join(t.TempDir(), "Makefile")
	if err := os.WriteFile(mk, []byte("include packaging/Makefile.inc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("make", "-f", mk, "package", "DIST="+dist, "PKG_VERSION=0.1.0", "PKG_ARCH=amd64")
	for _, b := range []string{"release-agent", "releasectl"} {
		out := run("file", filepath.Join(dist, "bin", b))
		if !strings.Contains(out, "static-pie linked") || !strings.Contains(out, "stripped") || strings.Contains(out, "not stripped") {
			t.Errorf("%s is not a stripped static PIE: %s", b, out)
		}
	}
	deb := filepath.Join(dist, "release-agent_0.1.0-1_amd64.deb")
	rpms, _ := filepath.Glob(filepath.Join(dist, "release-agent-0.1.0-1.*.rpm"))
	if len(rpms) != 1 {
		t.Errorf("rpm not built: %v", rpms)
	}
	lint := exec.Command("lintian", "--fail-on", "error", deb)
	out, err := lint.CombinedOutput()
	t.Logf("lintian:\n%s", out)
	if err != nil || regexp.MustCompile(`(?m)^E: `).Match(out) {
		t.Fatalf("lintian reports errors (%v)", err)
	}
	run("dpkg", "-i", deb)
	installed := true
	t.Cleanup(func() {
		if installed {
			exec.Command("dpkg", "-P", "release-agent").Run()
		}
	})
	for _, b := range []string{"/usr/bin/release-agent", "/usr/bin/releasectl"} {
		if out := run(b, "--version"); !strings.Contains(out, "0.1.0") {
			t.Errorf("%s --version = %q", b, out)
		}
	}
	for _, p := range []string{"/usr/bin/releasectl", "/usr/lib/systemd/system/release-agent.service",
		"/usr/lib/systemd/system/release-agent.socket", "/etc/release-agent/config.toml",
		"/usr/share/man/man8/release-agent.8.gz", "/usr/share/man/man1/releasectl.1.gz", "/usr/share/doc/release-agent/copyright",
		"/usr/share/bash-completion/completions/releasectl", "/usr/share/zsh/vendor-completions/_releasectl",
		"/usr/share/fish/vendor_completions.d/releasectl.fish",
		"/usr/share/release-agent/web/release-agent-cache.conf", "/usr/share/release-agent/web/nginx-site.conf",
		"/usr/share/release-agent/web/Caddyfile", "/usr/share/doc/release-agent/examples/nginx.conf"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("installed package lacks %s: %v", p, err)
		}
	}
	run("/usr/bin/release-agent", "--check-config", "--config", "/etc/release-agent/config.toml")
	// As the service user, the packaged config's root is refused until
	// the printed fix is run (if this machine has no /srv/www of its own).
	if _, err := os.Stat("/srv/www"); errors.Is(err, fs.ErrNotExist) {
		out, err := exec.Command("/usr/bin/release-agent", "--check-config", "--as-user", "release-agent").CombinedOutput()
		m := regexp.MustCompile(`; fix: (install -d -o release-agent -g release-agent /srv/www/www) `).FindSubmatch(out)
		if err == nil || m == nil {
			t.Errorf("--check-config --as-user release-agent without /srv/www: %v\n%s", err, out)
		} else {
			t.Cleanup(func() { os.RemoveAll("/srv/www") })
			fix := strings.Fields(string(m[1]))
			run(fix[0], fix[1:]...)
			run("/usr/bin/release-agent", "--check-config", "--as-user", "release-agent")
		}
	}
	if _, err := exec.Command("getent", "passwd", "release-agent").Output(); err != nil {
		t.Errorf("user release-agent not created: %v", err)
	}
	run("dpkg", "-r", "release-agent")
	if _, err := os.Stat("/usr/bin/release-agent"); err == nil {
		t.Error("/usr/bin/release-agent still there after dpkg -r")
	}
	if _, err := os.Stat("/etc/release-agent/config.toml"); err != nil {
		t.Errorf("conffile removed by dpkg -r (only purge may): %v", err)
	}
	run("dpkg", "-P", "release-agent")
	installed = false
	if _, err := os.Stat("/etc/release-agent/config.toml"); err == nil {
		t.Error("conffile still there after dpkg -P")
	}
	// Purged: dpkg no longer knows the package (or lists it as not installed).
	out, err = exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "release-agent").CombinedOutput()
	if err == nil && !strings.HasPrefix(string(out), "un") && !strings.HasPrefix(string(out), "pn") {
		t.Errorf("package state after purge: %q", out)
	}
}

// Package web holds the web server snippets for sites published by
// release-agent; its test validates them with the real servers.
package web

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// need returns the path of tool, or skips (fails in CI) when it is missing.
func need(t *testing.T, tool string) string {
	t.Helper()
	return testenv.Command(t, tool)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nginxConf returns a main config serving root/current on port with the
// snippet, as the example server block does.
func nginxConf(t *testing.T, dir, root string, port int) string {
	snippet, err := filepath.Abs("release-agent-cache.conf")
	if err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;" // the test tree lives under a 0700 temp dir
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[2]s/tmp;
	proxy_temp_path %[2]s/tmp;
	fastcgi_temp_path %[2]s/tmp;
	uwsgi_temp_path %[2]s/tmp;
	scgi_temp_path %[2]s/tmp;
	server {
		listen 127.0.0.1:%[3]d;
		root %[4]s/current;
		index index.html;
		open_file_cache off;
		include %[5]s;
		location / {
			try_files $uri $uri/ =404;
		}
	}
}
`, user, dir, port, root, snippet)
	p := filepath.Join(dir, "nginx.conf")
	write(t, p, conf)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNginxConfigValid(t *testing.T) {
	nginx := need(t, "nginx")
	dir := t.TempDir()
	conf := nginxConf(t, dir, t.TempDir(), freePort(t))
	out, err := exec.Command(nginx, "-t", "-p", dir, "-c", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// TestNginxServesCachePolicy runs nginx on the snippet and checks the
// Cache-Control of hashed names, other names, 404s, and that a swap of
// `current` is seen by the next request.
func TestNginxServesCachePolicy(t *testing.T) {
	nginx := need(t, "nginx")
	dir := t.TempDir()
	root := t.TempDir()
	write(t, filepath.Join(root, "releases/v1/index.html"), "v1")
	write(t, filepath.Join(root, "releases/v1/css/site.0123456789.css"), "css")
	write(t, filepath.Join(root, "releases/v1/css/site.css"), "css")
	write(t, filepath.Join(root, "releases/v2/index.html"), "v2")
	if err := os.Symlink("releases/v1", filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := nginxConf(t, dir, root, port)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nginx, "-p", dir, "-c", conf, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not answer: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness, not synchronisation of results
	}
	get := func(p string) (int, string, string) {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Cache-Control"), string(b)
	}
	for _, c := range []struct {
		path, cc string
		code     int
	}{
		{"/", "no-cache", 200},
		{"/index.html", "no-cache", 200},
		{"/css/site.0123456789.css", "public, max-age=31536000, immutable", 200},
		{"/css/site.css", "no-cache", 200},
		{"/css/gone.0123456789.css", "", 404},
		{"/nothere.html", "no-cache", 404},
	} {
		code, cc, _ := get(c.path)
		if code != c.code || cc != c.cc {
			t.Errorf("GET %s: %d %q, want %d %q", c.path, code, cc, c.code, c.cc)
		}
	}
	// Swap current as release-agent does (rename of a new symlink).
	tmp := filepath.Join(root, ".current.tmp")
	if err := os.Symlink("releases/v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	if _, _, body := get("/"); body != "v2" {
		t.Errorf("after the swap GET / = %q, want v2", body)
	}
}

func TestCaddyfileValid(t *testing.T) {
	caddy := need(t, "caddy")
	dir := t.TempDir()
	cmd := exec.Command(caddy, "validate", "--config", "Caddyfile", "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
}

// TestSameHashedPattern: both servers recognise the same names.
func TestSameHashedPattern(t *testing.T) {
	const re = `\.[0-9a-f]{10}\.[A-Za-z0-9]+$`
	for _, f := range []string{"release-agent-cache.conf", "Caddyfile"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), re) {
			t.Errorf("%s does not use the hashed-name pattern %s", f, re)
		}
	}
}

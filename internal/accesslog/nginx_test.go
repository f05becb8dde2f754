package accesslog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/test/loadtest"
)

// nginxBin is /usr/sbin/nginx (Debian's), else nginx from $PATH; a missing
// nginx skips the test, or fails it when CI is set.
func nginxBin(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && !fi.IsDir() {
		return "/usr/sbin/nginx"
	}
	return testenv.Command(t, "nginx")
}

// shippedHTTPConf is the absolute path of packaging/web/release-agent-http.conf.
func shippedHTTPConf(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs("../../packaging/web/release-agent-http.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// releaseRoot writes ROOT/releases/vN with files, ROOT/current ->
// releases/vN, and ROOT/cohorts/00..99 -> ../current, as release-agent
// lays out a watched site without a canary.
func releaseRoot(t testing.TB, root, release string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, "releases", release, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("releases/"+release, filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "cohorts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := os.Symlink("../current", filepath.Join(root, "cohorts", fmt.Sprintf("%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

// startWatchedNginx runs nginx with the shipped release-agent-http.conf and
// a server block like packaging/web/nginx-site-watch.conf: root
// ROOT/cohorts/$release_agent_cohort, the cohort cookie, and the
// release_agent access log to logPath.
func startWatchedNginx(t testing.TB, root, logPath string, workers int) *loadtest.Nginx {
	t.Helper()
	bin := nginxBin(t)
	dir := t.TempDir()
	include := shippedHTTPConf(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := loadtest.StartNginxConfig(ctx, bin, dir, func(port int) string {
		conf := loadtest.NginxHTTPConfig(dir, fmt.Sprintf(`    include %s;
    server {
        listen 127.0.0.1:%d;
        userid         on;
        userid_name    ra_cohort;
        userid_path    /;
        userid_expires 30d;
        root "%s/cohorts/$release_agent_cohort";
        index index.html;
        open_file_cache off;
        access_log %s release_agent;
        location / {
            try_files $uri $uri/ =404;
        }
    }
`, include, port, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(root), logPath))
		return strings.Replace(conf, "worker_processes 2;", fmt.Sprintf("worker_processes %d;", workers), 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// rawGet sends "GET target HTTP/1.1" with target as given, byte for byte,
// and returns the response's status code.
func rawGet(t *testing.T, addr, target string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: www.example.org\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("GET %q: %v", target, err)
	}
	var proto string
	var code int
	if _, err := fmt.Sscanf(line, "%s %d", &proto, &code); err != nil {
		t.Fatalf("GET %q: status line %q", target, line)
	}
	io.Copy(io.Discard, r) // to EOF: nginx has logged the request
	return code
}

// TestNginxWritesWhatParseNginxReads runs nginx with the shipped log format
// on a root reached through ROOT/cohorts/NN -> ../current -> releases/v3,
// sends it odd request targets, and follows its log: every line parses,
// names release v3, and has the status and path sent.
func TestNginxWritesWhatParseNginxReads(t *testing.T) {
	// A root whose name holds a quote, a backslash, a tab, a newline and a control
	// byte: nginx escapes them in $realpath_root (\", \\, \t, \n, \u0001).
	root := filepath.Join(t.TempDir(), "we\"ird\\ ro\tot\n\x01")
	css := "body { color: #333 }\n"
	releaseRoot(t, root, "v3", map[string]string{
		"index.html":      "<!doctype html><title>v3</title>\n",
		"docs/index.html": "docs\n",
		"a b.html":        "space\n",
		"café.html":       "utf-8\n",
		`q"uote.html`:     "quote\n",
		"css/site.css":    css,
	})
	logPath := filepath.Join(t.TempDir(), "access.log")
	start := time.Now()
	n := startWatchedNginx(t, root, logPath, 1)
	addr := strings.TrimPrefix(n.URL, "http://")

	long := "/?q=" + strings.Repeat("0123456789", 400) + "&end"
	cases := []struct {
		target string
		status int
		path   string
	}{
		{"/", 200, "/"},
		{"/docs/", 200, "/docs/"},
		{"/css/site.css", 200, "/css/site.css"},
		{"/missing.html", 404, "/missing.html"},
		{"/img/missing.png", 404, "/img/missing.png"},
		{"/a%20b.html", 200, "/a b.html"},
		{`/q"uote.html`, 200, `/q"uote.html`},
		{"/q%22uote.html", 200, `/q"uote.html`},
		{`/back\slash`, 404, `/back\slash`},
		{`/back%5Cslash?\"`, 404, `/back\slash`},
		{"/tab%09x", 404, "/tab\tx"},
		{"/nl%0ay%0D", 404, "/nl\ny\r"},
		{"/ctl%01%1f%7f", 404, "/ctl\x01\x1f\x7f"},
		{"/caf%C3%A9.html", 200, "/café.html"},
		{"/café.html", 200, "/café.html"},
		{"/bad%zzescape", 400, ""}, // nginx refuses it, and logs no $request_uri
		{"/?a=\"b\"&c=\\d&e=%09%0a", 200, "/"},
		{long, 200, "/"},
		{"/docs", 301, "/docs"},
	}
	for _, tc := range cases {
		if got := rawGet(t, addr, tc.target); got != tc.status {
			t.Errorf("GET %q: status %d, want %d", tc.target, got, tc.status)
		}
	}
	end := time.Now()

	var (
		mu   sync.Mutex
		seen []Entry
		logb testenv.SyncBuffer
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, logPath, FollowOptions{Parse: ParseNginx, FromStart: true, Poll: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(&logb, nil))}, func(e Entry) {
			mu.Lock()
			seen = append(seen, e)
			mu.Unlock()
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= len(cases) {
			break
		}
		if time.Now().After(deadline) {
			raw, _ := os.ReadFile(logPath)
			t.Fatalf("Follow passed on %d entries of %d requests in 10s\nlog file:\n%s\nfollower:\n%s", n, len(cases), raw, logb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done

	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	for i, l := range lines {
		if len(l) > 200 {
			l = append(l[:200:200], "..."...)
		}
		t.Logf("line %d: %s", i, l)
	}
	if len(lines) != len(cases) || len(seen) != len(cases) {
		t.Fatalf("%d requests, %d log lines, %d entries", len(cases), len(lines), len(seen))
	}
	if strings.Contains(logb.String(), "unparseable") {
		t.Errorf("the follower skipped lines:\n%s", logb.String())
	}
	wantRoot, err := filepath.EvalSymlinks(filepath.Join(root, "releases", "v3"))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range seen {
		tc := cases[i]
		if e.Status != tc.status || e.Path != tc.path || e.Release != "v3" || e.Root != wantRoot {
			t.Errorf("GET %q: status %d, path %q, release %q, root %q; want %d, %q, v3, %q\nline: %s",
				tc.target, e.Status, e.Path, e.Release, e.Root, tc.status, tc.path, wantRoot, lines[i])
		}
		if e.Time.Before(start.Truncate(time.Millisecond)) || e.Time.After(end) || e.Duration < 0 || e.Duration > 10*time.Second || e.Bytes <= 0 {
			t.Errorf("GET %q: time %v (requests from %v to %v), duration %v, bytes %d", tc.target, e.Time, start, end, e.Duration, e.Bytes)
		}
		if tc.target == "/css/site.css" && e.Bytes != int64(len(css)) {
			t.Errorf("GET /css/site.css: %d bytes logged, want %d", e.Bytes, len(css))
		}
	}
}

package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Nginx is an nginx master process run as a child, serving one document
// root on 127.0.0.1. Its configuration, pid file, error log and temporary
// directories all live in Dir.
type Nginx struct {
	URL  string // "http://127.0.0.1:PORT"
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // of Wait, valid once done is closed
}

// NginxConfig returns the configuration StartNginx writes: one server on
// 127.0.0.1:port with root docroot (the symlink ROOT/current: nginx
// resolves it on every request), inside NginxHTTPConfig.
func NginxConfig(dir, docroot string, port int) string {
	return NginxHTTPConfig(dir, fmt.Sprintf(`    server {
        listen 127.0.0.1:%d;
        root %s;
        index index.html;
    }
`, port, docroot))
}

// NginxHTTPConfig returns a whole nginx configuration whose http block
// holds httpBody after the settings every test server shares:
// open_file_cache off, no access log, the error log, pid and temporary
// paths under dir, and `user root root` only when running as root (nginx
// otherwise drops to nobody, who cannot read a test's private temporary
// directory).
func NginxHTTPConfig(dir, httpBody string) string {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;\n"
	}
	return fmt.Sprintf(`# written by package loadtest
%sworker_processes 2;
error_log %[2]s/error.log warn;
pid %[2]s/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    types {
        text/html html;
        text/css css;
        application/javascript js;
        image/svg+xml svg;
        image/png png;
    }
    default_type application/octet-stream;
    open_file_cache off;
    sendfile on;
    keepalive_requests 1000000;
%[3]s}
`, user, dir, httpBody)
}

// StartNginx starts bin (the nginx binary) in the foreground
// (`-p dir -c nginx.conf -g 'daemon off;'`) serving docroot, and waits until
// it accepts connections or ctx is done. The port is chosen free; if
// another process takes it first, StartNginx retries with another.
func StartNginx(ctx context.Context, bin, dir, docroot string) (*Nginx, error) {
	return StartNginxConfig(ctx, bin, dir, func(port int) string { return NginxConfig(dir, docroot, port) })
}

// StartNginxConfig is StartNginx with the configuration of config(port)
// (written to dir/nginx.conf), for tests that assemble nginx from the
// shipped snippets; its temporary paths should be those of NginxConfig
// (under dir/tmp, created here).
func StartNginxConfig(ctx context.Context, bin, dir string, config func(port int) string) (*Nginx, error) {
	for _, d := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, "tmp", d), 0o700); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(config(port)), 0o644); err != nil {
			return nil, err
		}
		n := &Nginx{URL: "http://127.0.0.1:" + strconv.Itoa(port), Dir: dir, done: make(chan struct{})}
		var stderr bytes.Buffer
		n.cmd = exec.Command(bin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf, "-g", "daemon off;")
		n.cmd.Stderr = &stderr
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := n.cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting %s: %w", bin, err)
		}
		go func() { n.err = n.cmd.Wait(); close(n.done) }()
		err = n.waitReady(ctx, port)
		if err == nil {
			return n, nil
		}
		n.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		lastErr = fmt.Errorf("nginx on port %d: %w\nstderr: %s\nerror.log: %s", port, err, stderr.String(), log)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

var errExited = errors.New("exited before accepting connections")

func (n *Nginx) waitReady(ctx context.Context, port int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.done:
			return fmt.Errorf("%w (%v)", errExited, n.err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			// The port answers; make sure it is our nginx, not a
			// process that took the port first.
			select {
			case <-n.done:
				return fmt.Errorf("%w (%v)", errExited, n.err)
			default:
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return fmt.Errorf("%w (%v)", errExited, n.err)
		case <-tick.C:
		}
	}
}

// Stop kills the nginx process group (master and workers) and waits for
// the master to exit. It is safe to call more than once.
func (n *Nginx) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.done
}

// ErrorLog returns the content of nginx's error log.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

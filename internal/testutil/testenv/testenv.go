// Package testenv starts real external servers for tests: today a MinIO
// server on 127.0.0.1 with random credentials and its data in t.TempDir().
//
// # Finding tools
//
// Tool finds a binary in $PATH or in <module root>/.tools/bin (where
// `make tools` installs pinned builds). When it is missing the test is
// skipped with a message naming the tool and `make tools`, unless the
// environment variable CI is set: then the test fails, so that CI never
// silently skips.
//
// # MinIO
//
// StartMinIO returns a running server whose lifetime is bound to the test
// (t.Cleanup stops it). Stop and Restart keep the same port, credentials and
// data directory, for tests of a server that goes away in the middle of a
// transfer. A MinIO value is safe for concurrent use; Stop and Restart
// serialise with each other.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"
)

// ModuleRoot returns the directory holding go.mod, searching upwards from
// the working directory (a test's working directory is its package).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// LookTool returns the path of the named binary from $PATH or
// <module root>/.tools/bin, or an error naming the places searched.
func LookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	root, err := ModuleRoot()
	if err == nil {
		p := filepath.Join(root, ".tools", "bin", name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in $PATH or <module root>/.tools/bin (install it with `make tools`)", name)
}

// Tool is LookTool for tests: a missing tool skips the test outside CI and
// fails it when the environment variable CI is set.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := LookTool(name)
	if err != nil {
		Missing(t, err.Error())
	}
	return p
}

// Command returns the path of a system tool from Debian's packages (nginx,
// sshd, systemd-analyze...): a missing one skips the test outside CI, naming
// it and `sudo make deps`, and fails it when CI is set.
func Command(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, fmt.Sprintf("%s not installed (sudo make deps): %v", name, err))
	}
	return p
}

// Missing skips the test (or fails it when CI is set) because something the
// test needs is not installed; msg names it.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and a required tool is missing: %s", msg)
	}
	t.Skipf("skipped: %s", msg)
}

// RandomString returns n random hex characters.
func RandomString(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// MinIOOptions configure StartMinIO. The zero value is a plain server.
type MinIOOptions struct {
	// Env is added to the server's environment, e.g. a webhook target:
	// MINIO_NOTIFY_WEBHOOK_ENABLE_<ID>=on, MINIO_NOTIFY_WEBHOOK_ENDPOINT_<ID>=URL,
	// MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>=TOKEN. See WebhookEnv.
	Env []string
	// Binary overrides the minio binary (default: Tool(t, "minio")).
	Binary string
}

// WebhookEnv returns the environment that makes MinIO deliver bucket
// notifications to url with "Authorization: Bearer token" under target id;
// the notification ARN for SetBucketNotification is WebhookARN(id).
func WebhookEnv(id, url, token string) []string {
	env := []string{
		"MINIO_NOTIFY_WEBHOOK_ENABLE_" + id + "=on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_" + id + "=" + url,
	}
	if token != "" {
		env = append(env, "MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_"+id+"="+token)
	}
	return env
}

// WebhookARN is the ARN of the webhook target configured by WebhookEnv(id, ...).
func WebhookARN(id string) string { return "arn:minio:sqs::" + id + ":webhook" }

// MinIO is a running MinIO server.
type MinIO struct {
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
	DataDir   string
	Client    *minio.Client // root credentials

	t      testing.TB
	bin    string
	env    []string
	logf   *os.File
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// URL returns "http://" + Endpoint, the form AWS_ENDPOINT_URL takes.
func (m *MinIO) URL() string { return "http://" + m.Endpoint }

// StartMinIO starts a MinIO server on 127.0.0.1 (random free port, random
// credentials, data in t.TempDir()), waits until it answers, and stops it at
// the end of the test. opts may be nil.
func StartMinIO(t testing.TB, opts *MinIOOptions) *MinIO {
	t.Helper()
	if opts == nil {
		opts = &MinIOOptions{}
	}
	bin := opts.Binary
	if bin == "" {
		bin = Tool(t, "minio")
	}
	dir := t.TempDir()
	m := &MinIO{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		AccessKey: "ak" + RandomString(18),
		SecretKey: "sk" + RandomString(38),
		DataDir:   filepath.Join(dir, "data"),
		t:         t,
		bin:       bin,
	}
	if err := os.Mkdir(m.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		t.Fatal(err)
	}
	m.logf = lf
	m.env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
		"HOME="+dir,
	)
	m.env = append(m.env, opts.Env...)
	cl, err := minio.New(m.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Client = cl
	t.Cleanup(func() {
		m.Stop()
		lf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(lf.Name()); err == nil && len(b) > 0 {
				if len(b) > 8000 {
					b = b[len(b)-8000:]
				}
				t.Logf("minio log (tail):\n%s", b)
			}
		}
	})
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *MinIO) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return nil
	}
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.Endpoint,
		"--console-address", "127.0.0.1:0", m.DataDir)
	cmd.Env = m.env
	cmd.Stdout = m.logf
	cmd.Stderr = m.logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testenv: start %s: %w", m.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	m.cmd, m.exited = cmd, exited
	// Poll until the server answers (its port may still be held by a
	// previous instance for a moment after a restart).
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL()+"/minio/health/ready", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if _, err := m.Client.ListBuckets(ctx); err == nil {
					return nil
				}
			}
		}
		select {
		case <-exited:
			m.cmd = nil
			return fmt.Errorf("testenv: minio exited before it answered (log: %s)", m.logf.Name())
		case <-ctx.Done():
			return fmt.Errorf("testenv: minio at %s did not answer within 60s (log: %s)", m.Endpoint, m.logf.Name())
		case <-tick.C:
		}
	}
}

// Stop kills the server (SIGKILL: connections drop as in a crash) and
// waits for it to exit. The data directory is kept. Stop on a stopped
// server does nothing.
func (m *MinIO) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
}

// Restart starts a stopped server again on the same address with the same
// credentials and data, and waits until it answers. On a running server it
// stops it first.
func (m *MinIO) Restart() error {
	m.Stop()
	return m.start()
}

// NewClient returns a client of this server with the given credentials
// (for tests of wrong credentials).
func (m *MinIO) NewClient(accessKey, secretKey string) (*minio.Client, error) {
	return minio.New(m.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(accessKey, secretKey, ""),
		Region: "us-east-1",
	})
}

// MakeBucket creates a bucket with the root client, failing the test on error.
func (m *MinIO) MakeBucket(t testing.TB, name string) {
	t.Helper()
	if err := m.Client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("testenv: make bucket %q: %v", name, err)
	}
}

// SetBucketNotification sets cfg on bucket, retrying for up to 30s: a
// webhook target configured by environment may become known to the
// server a moment after it answers health checks.
func (m *MinIO) SetBucketNotification(t testing.TB, bucket string, cfg notification.Configuration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := m.Client.SetBucketNotification(context.Background(), bucket, cfg)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: set bucket notification on %q: %v", bucket, err)
		}
		<-tick.C
	}
}

package crashtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sys/unix"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/test/loadtest"
)

// stallRelay is a TCP relay on 127.0.0.1 in front of a real server. Once
// armed, a connection that has sent more than after bytes of response
// stops forwarding (and keeps the connection open): the server seems to
// hang mid-stream, exactly like a peer that stops sending.
type stallRelay struct {
	l        net.Listener
	target   string
	after    int64
	armed    atomic.Bool
	stalled  chan struct{} // closed at the first stall
	once     sync.Once
	mu       sync.Mutex
	conns    []net.Conn
	released chan struct{}
}

func newStallRelay(t *testing.T, target string, after int64) *stallRelay {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &stallRelay{l: l, target: target, after: after, stalled: make(chan struct{}), released: make(chan struct{})}
	go r.serve()
	t.Cleanup(func() {
		close(r.released)
		l.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
	})
	return r
}

func (r *stallRelay) URL() string { return "http://" + r.l.Addr().String() }

func (r *stallRelay) serve() {
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, up)
		r.mu.Unlock()
		go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
		go r.down(c, up)
	}
}

// down copies the server's response to the client, stalling when armed.
func (r *stallRelay) down(c, up net.Conn) {
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if r.armed.Load() && sent+int64(n) > r.after {
				r.once.Do(func() { close(r.stalled) })
				<-r.released // hold the connection open, send nothing more
				return
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			sent += int64(n)
		}
		if err != nil {
			c.(*net.TCPConn).CloseWrite()
			return
		}
	}
}

// TestCrashStalledS3Source deploys an archive object from a real MinIO whose
// responses stop mid-stream after 1 MiB. The deploy runs with a deadline
// (the configured limit; see the report: releasectl has no --timeout flag
// yet, so this drives the service in-process as the daemon would): it must
// end with the deadline's error, leave current on the live release,
// record the attempt as failed and leave no staging tree.
func TestCrashStalledS3Source(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	files := loadtest.Site("s3")
	blob := make([]byte, 6<<20) // incompressible: the stream is long
	rand.Read(blob)
	files["big/blob.bin"] = blob
	var buf bytes.Buffer
	if err := loadtest.WriteTarGz(&buf, files); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Client.PutObject(ctx, "site", "site.tar.gz", bytes.NewReader(buf.Bytes()), int64(buf.Len()), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	relay := newStallRelay(t, m.Endpoint, 1<<20)
	t.Setenv("AWS_ENDPOINT_URL", relay.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")

	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	svc := &service.Local{Via: "test", Sources: ingest.Openers{"s3": s3.OpenFromEnv}}
	// The same object through the relay, not yet armed, deploys fine.
	first, err := svc.Deploy(ctx, api.DeployRequest{Target: api.Target{Root: root}, Source: "s3://site/site.tar.gz", Activate: true})
	if err != nil {
		t.Fatalf("deploy before the stall: %v", err)
	}
	live := first.Release.ID
	relay.armed.Store(true)

	const limit = 3 * time.Second
	dctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	type out struct {
		r   *api.DeployResult
		err error
	}
	done := make(chan out, 1)
	start := time.Now()
	go func() {
		r, err := svc.Deploy(dctx, api.DeployRequest{Target: api.Target{Root: root}, Source: "s3://site/site.tar.gz", Activate: true})
		done <- out{r, err}
	}()
	var o out
	select {
	case o = <-done:
	case <-time.After(limit + 2*time.Minute): // a hang detector, not a timing check
		t.Fatalf("deploy from a stalled source did not return %v after its %v deadline", 2*time.Minute, limit)
	}
	took := time.Since(start)
	select {
	case <-relay.stalled:
	default:
		t.Fatalf("the relay never stalled: the test did not exercise a mid-stream stall (deploy: %v)", o.err)
	}
	t.Logf("stalled deploy ended after %v (deadline %v): %v", took.Round(time.Millisecond), limit, o.err)
	if o.err == nil {
		t.Fatalf("deploy from a stalled source succeeded: %+v", o.r)
	}
	if !errors.Is(o.err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", o.err)
	}
	s, err := releases.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(); cur != live {
		t.Errorf("current is %s, want %s (untouched)", cur, live)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.StateDir(), "staging")); len(ents) != 0 {
		t.Errorf("staging not removed: %d entries", len(ents))
	}
	if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
		t.Errorf("store after the stalled deploy:\n%v", err)
	}
	recs, _ := s.Records()
	failed := false
	for _, r := range recs {
		if r.ID != live && r.Status == releases.StatusFailed {
			failed = true
		}
	}
	if !failed {
		t.Error("the stalled deploy left no failed record")
	}
}

// TestCrashFIFOSourceRefused: a local artifact cannot stall (the local source
// reads regular files and directories only); a FIFO named as the artifact
// is refused at once, without opening it, and nothing changes.
func TestCrashFIFOSourceRefused(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	mustCtl(t, "--root", root, "deploy", bigSite(t, 10, 1))
	before := list(t, root)
	fifo := filepath.Join(t.TempDir(), "site.tar.gz")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := command(t, "--root", root, "deploy", fifo)
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute): // a hang detector: nobody writes the FIFO
		cmd.Process.Kill()
		t.Fatal("releasectl blocked on a FIFO artifact")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("deploy of a FIFO: %v, want exit 1\n%s", err, e.String())
	}
	if !strings.Contains(e.String(), fifo) {
		t.Errorf("error does not name the artifact: %s", e.String())
	}
	if after := list(t, root); after.Current != before.Current || len(after.Releases) != len(before.Releases) {
		t.Errorf("store changed: current %s -> %s, %d -> %d releases", before.Current, after.Current, len(before.Releases), len(after.Releases))
	}
}

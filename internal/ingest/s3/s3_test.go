package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/manifest"
)

func hexsum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func put(t testing.TB, cl *minio.Client, bucket, key string, body []byte, meta map[string]string) minio.UploadInfo {
	t.Helper()
	ui, err := cl.PutObject(context.Background(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{UserMetadata: meta})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return ui
}

func testConfig(m *testenv.MinIO) Config {
	return Config{
		Endpoint: m.URL(),
		Region:   "us-east-1",
		Creds:    credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Retry:    Retry{Attempts: 30, Initial: 50 * time.Millisecond, Max: time.Second},
		Logger:   slog.New(slog.DiscardHandler),
	}
}

// newWriter returns a real safewrite.Writer on an empty directory, optionally
// with a live release to link from.
func newWriter(t testing.TB, liveDir string, live *manifest.Manifest) (*safewrite.Writer, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "stage")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := safewrite.New(safewrite.Options{Dir: dir, LiveDir: liveDir, Live: live, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return w, dir
}

// site returns n files of a small static site.
func site(n int, salt string) map[string][]byte {
	files := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("dir%d/page%d.html", i%7, i)
		if i == 0 {
			name = "index.html"
		}
		files[name] = []byte(fmt.Sprintf("<html><body>page %d %s %s</body></html>", i, salt, strings.Repeat("x", i%300)))
	}
	return files
}

func uploadSite(t testing.TB, cl *minio.Client, bucket, prefix string, files map[string][]byte, withList bool) {
	t.Helper()
	var marker bytes.Buffer
	for name, body := range files {
		put(t, cl, bucket, prefix+name, body, nil)
		if withList {
			fmt.Fprintf(&marker, "%s  %s\n", hexsum(body), name)
		}
	}
	put(t, cl, bucket, prefix+DefaultMarker, marker.Bytes(), map[string]string{"git-sha": "abc123", "built-by": "ci"})
}

func checkTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, ".") { // the Writer's own temp dir
			return nil
		}
		n++
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if want, ok := files[filepath.ToSlash(rel)]; !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: unexpected file or content", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(files) {
		t.Fatalf("staged %d files, want %d", n, len(files))
	}
}

func fetch(t testing.TB, cfg Config, spec string, sink safewrite.Sink) (*Source, ingest.Info, error) {
	t.Helper()
	src, err := Open(context.Background(), cfg, spec, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := src.Fetch(context.Background(), sink)
	return src, info, err
}

func TestPrefix(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	files := site(50, "v1")
	uploadSite(t, m.Client, "site", "www/", files, false)
	put(t, m.Client, "site", "other/ignored.html", []byte("not ours"), nil)

	w, dir := newWriter(t, "", nil)
	src, info, err := fetch(t, testConfig(m), "s3://site/www/", w)
	if err != nil {
		t.Fatal(err)
	}
	man, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, files)
	if len(man.Entries) != len(files) {
		t.Fatalf("manifest has %d entries", len(man.Entries))
	}
	if info.Kind != "s3-prefix" || info.Meta["marker_etag"] == "" || info.Meta["x-amz-meta-git-sha"] != "abc123" || info.Meta["x-amz-meta-built-by"] != "ci" {
		t.Fatalf("info: %+v", info)
	}
	if st := src.Stats(); st.Downloaded != 50 || st.Linked != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPrefixIncomplete(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	for name, body := range site(5, "v1") {
		put(t, m.Client, "site", "www/"+name, body, nil)
	}
	w, dir := newWriter(t, "", nil)
	_, _, err := fetch(t, testConfig(m), "s3://site/www/", w)
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "www/.release-complete") {
		t.Fatalf("err = %v, want ErrIncomplete naming the marker", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("something was staged for an incomplete prefix: %s", e.Name())
		}
	}
	// A marker listing a file that is not uploaded is incomplete too.
	put(t, m.Client, "site", "www/"+DefaultMarker, []byte(strings.Repeat("a", 64)+"  missing.html\n"), nil)
	w2, _ := newWriter(t, "", nil)
	if _, _, err := fetch(t, testConfig(m), "s3://site/www/", w2); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "www/missing.html") {
		t.Fatalf("err = %v, want ErrIncomplete naming www/missing.html", err)
	}
}

func TestPrefixChecksumMismatch(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	files := site(10, "v1")
	uploadSite(t, m.Client, "site", "www/", files, true)
	put(t, m.Client, "site", "www/dir3/page3.html", []byte("tampered"), nil) // after the marker
	w, _ := newWriter(t, "", nil)
	_, _, err := fetch(t, testConfig(m), "s3://site/www/", w)
	if !errors.Is(err, ingest.ErrChecksum) || !strings.Contains(err.Error(), "s3://site/www/dir3/page3.html") {
		t.Fatalf("err = %v, want ErrChecksum naming s3://site/www/dir3/page3.html", err)
	}

	// x-amz-meta-sha256 that does not match the content.
	m.MakeBucket(t, "meta")
	put(t, m.Client, "meta", "p/a.html", []byte("hello"), map[string]string{"sha256": hexsum([]byte("other"))})
	put(t, m.Client, "meta", "p/"+DefaultMarker, nil, nil)
	w2, _ := newWriter(t, "", nil)
	if _, _, err := fetch(t, testConfig(m), "s3://meta/p/", w2); !errors.Is(err, ingest.ErrChecksum) || !strings.Contains(err.Error(), "p/a.html") {
		t.Fatalf("meta: err = %v, want ErrChecksum naming p/a.html", err)
	}
}

func TestWrongCredentials(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	uploadSite(t, m.Client, "site", "www/", site(3, "v1"), false)
	cfg := testConfig(m)
	secret := "wrong-secret-" + testenv.RandomString(16)
	cfg.Creds = credentials.NewStaticV4(m.AccessKey, secret, "")
	w, _ := newWriter(t, "", nil)
	_, _, err := fetch(t, cfg, "s3://site/www/", w)
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("the secret key appears in the error")
	}
	// Not found is final too, and fast (no retries).
	w2, _ := newWriter(t, "", nil)
	if _, _, err := fetch(t, testConfig(m), "s3://nosuchbucket/www/", w2); !errors.Is(err, ingest.ErrNotFound) {
		t.Fatalf("err = %v, want ingest.ErrNotFound", err)
	}
}

// The environment path: OpenFromEnv with AWS_* variables, as releasectl
// run by hand does it.
func TestOpenFromEnvironment(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	files := site(4, "env")
	uploadSite(t, m.Client, "site", "www/", files, true)
	t.Setenv("AWS_ENDPOINT_URL", m.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	src, err := ingest.Openers{"s3": OpenFromEnv}.Open(context.Background(), "s3://site/www/", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, dir := newWriter(t, "", nil)
	if _, err := src.Fetch(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	checkTree(t, dir, files)
}

// A one-file change to a prefix whose marker lists sha256s: everything
// else is linked from the live release, one object is downloaded.
func TestPrefixIncremental(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	files := site(200, "v1")
	uploadSite(t, m.Client, "site", "www/", files, true)
	w1, live := newWriter(t, "", nil)
	if _, _, err := fetch(t, testConfig(m), "s3://site/www/", w1); err != nil {
		t.Fatal(err)
	}
	man, err := w1.Close()
	if err != nil {
		t.Fatal(err)
	}
	files["dir2/page9.html"] = []byte("changed")
	uploadSite(t, m.Client, "site", "www/", map[string][]byte{"dir2/page9.html": files["dir2/page9.html"]}, false)
	// rewrite the marker with the full list
	var mk bytes.Buffer
	for name, body := range files {
		fmt.Fprintf(&mk, "%s  %s\n", hexsum(body), name)
	}
	put(t, m.Client, "site", "www/"+DefaultMarker, mk.Bytes(), nil)

	w2, dir := newWriter(t, live, man)
	src, info, err := fetch(t, testConfig(m), "s3://site/www/", w2)
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	checkTree(t, dir, files)
	st := src.Stats()
	if st.Downloaded != 1 || st.Linked != 199 || st.Bytes > int64(len(mk.Bytes())+1000) {
		t.Fatalf("stats %+v (info %v), want 1 downloaded, 199 linked", st, info.Meta)
	}
}

// gateSink blocks the first File call after it has read `after` bytes
// until the test releases it: a pull interrupted at a known point.
type gateSink struct {
	safewrite.Sink
	after   int64
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (g *gateSink) File(ctx context.Context, name string, mode os.FileMode, size int64, want string, r io.Reader) error {
	return g.Sink.File(ctx, name, mode, size, want, &gateReader{g: g, r: r})
}

type gateReader struct {
	g *gateSink
	r io.Reader
	n int64
}

func (gr *gateReader) Read(p []byte) (int, error) {
	if gr.n >= gr.g.after {
		gr.g.once.Do(func() {
			close(gr.g.reached)
			<-gr.g.release
		})
	}
	n, err := gr.r.Read(p)
	gr.n += int64(n)
	return n, err
}

func TestMinIORestartMidPull(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB: more than the socket buffers
	files := map[string][]byte{"big.bin": big, "index.html": []byte("<p>hi</p>")}
	uploadSite(t, m.Client, "site", "www/", files, true)

	w, dir := newWriter(t, "", nil)
	g := &gateSink{Sink: w, after: 1 << 20, reached: make(chan struct{}), release: make(chan struct{})}
	cfg := testConfig(m)
	cfg.Concurrency = 1
	src, err := Open(context.Background(), cfg, "s3://site/www/", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := src.Fetch(context.Background(), g); done <- err }()
	select {
	case <-g.reached:
	case err := <-done:
		t.Fatalf("fetch ended before the gate: %v", err)
	}
	m.Stop()
	close(g.release) // reads now hit a dead connection and retry
	restarted := make(chan error, 1)
	go func() { restarted <- m.Restart() }()
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("fetch across a restart: %v", err)
	}
	w.Close()
	checkTree(t, dir, files)
	if st := src.Stats(); st.Resumes < 1 {
		t.Fatalf("stats %+v: no resume recorded", st)
	}
}

// MinIO goes away for good: the fetch fails (ErrUnavailable), nothing is
// reported as staged.
func TestMinIOGoneFails(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	uploadSite(t, m.Client, "site", "www/", site(3, "v1"), false)
	m.Stop()
	cfg := testConfig(m)
	cfg.Retry = Retry{Attempts: 3, Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}
	w, _ := newWriter(t, "", nil)
	if _, _, err := fetch(t, cfg, "s3://site/www/", w); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/daemon/trigger"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
)

// countS3Clients replaces newS3Client for the test and returns the
// number of clients made so far.
func countS3Clients(t *testing.T) func() int {
	var mu sync.Mutex
	n := 0
	orig := newS3Client
	newS3Client = func(c s3.Config) (*s3.Client, error) {
		mu.Lock()
		n++
		mu.Unlock()
		return orig(c)
	}
	t.Cleanup(func() { newS3Client = orig })
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func loadConfig(t *testing.T, path, body string) *config.Config {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A reload that removes [s3] keys gives a client without them (no stale
// endpoint, region or credentials file), and the site's poll trigger moves
// to the new client; a reload that changes nothing in [s3] keeps the
// client.
func TestReloadS3RemovedKeys(t *testing.T) {
	made := countS3Clients(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	site := fmt.Sprintf(`[[site]]
name = "www"
root = %q
source = "s3://site/www/"
[site.triggers]
poll = "1h"
`, filepath.Join(dir, "www"))
	withS3 := site + `[s3]
endpoint = "127.0.0.1:9"
insecure = true
region = "eu-west-3"
credentials_file = "/nonexistent/credentials"
`
	d := testDaemon(t)
	st1, err := d.build(loadConfig(t, path, withS3), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := st1.s3.Config(); c.Endpoint != "127.0.0.1:9" || !c.Insecure || c.Region != "eu-west-3" || c.CredentialsFile != "/nonexistent/credentials" {
		t.Fatalf("client config %+v does not follow [s3]", c)
	}
	st2, err := d.build(loadConfig(t, path, withS3), st1)
	if err != nil {
		t.Fatal(err)
	}
	if st2.s3 != st1.s3 || st2.workers["www"] != st1.workers["www"] || made() != 1 {
		t.Fatalf("unchanged [s3]: client %p -> %p, worker kept %v, %d clients made; want the same client and loop, 1 client",
			st1.s3, st2.s3, st2.workers["www"] == st1.workers["www"], made())
	}
	st3, err := d.build(loadConfig(t, path, site), st2)
	if err != nil {
		t.Fatal(err)
	}
	if st3.s3 == st2.s3 || made() != 2 {
		t.Fatalf("[s3] removed: the old client stayed (%d clients made)", made())
	}
	if c := st3.s3.Config(); c.Endpoint != "" || c.Insecure || c.Region != "" || c.CredentialsFile != "" {
		t.Fatalf("[s3] removed, client config still has %+v", c)
	}
	if u := st3.s3.Minio().EndpointURL(); u.String() != "https://s3.amazonaws.com" {
		t.Fatalf("[s3] removed, endpoint %v, want the default", u)
	}
	w := st3.workers["www"]
	if w == st2.workers["www"] || w.s3 != st3.s3 {
		t.Fatal("[s3] changed: the site's loop kept the old client for its triggers")
	}
	for _, tr := range w.triggers {
		if p, ok := tr.(*trigger.Poll); ok && p.Client != st3.s3.Minio() {
			t.Fatal("the poll trigger does not use the new client")
		}
	}
}

// Two deploys and the poll trigger of one daemon use one S3 client.
func TestOneS3ClientPerDaemon(t *testing.T) {
	made := countS3Clients(t)
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	body := "<!doctype html><html><head><title>s3</title></head><body>hi</body></html>\n"
	tw.WriteHeader(&tar.Header{Name: "index.html", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	if _, err := m.Client.PutObject(context.Background(), "site", "site.tar", bytes.NewReader(b.Bytes()), int64(b.Len()), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, fmt.Appendf(nil, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", m.AccessKey, m.SecretKey), 0o600)
	root := filepath.Join(dir, "www")
	cfg := loadConfig(t, filepath.Join(dir, "config.toml"), fmt.Sprintf(`[s3]
endpoint = %q
insecure = true
region = "us-east-1"
credentials_file = %q
[[site]]
name = "www"
root = %q
source = "s3://site/site.tar"
[site.triggers]
poll = "1h"
[site.validate]
policy = "off"
`, m.Endpoint, creds, root))

	d := testDaemon(t)
	st, err := d.build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Record the client of every source the deploys open.
	var mu sync.Mutex
	var opened []*minio.Client
	open := st.local.Sources["s3"]
	st.local.Sources["s3"] = func(ctx context.Context, spec string, opts ingest.Options) (ingest.Source, error) {
		src, err := open(ctx, spec, opts)
		if err == nil {
			mu.Lock()
			opened = append(opened, src.(*s3.Source).Client())
			mu.Unlock()
		}
		return src, err
	}
	d.cur.Store(st)
	for range 2 {
		// Force: the second is the live content, otherwise a no-op.
		if _, err := d.deploy(context.Background(), "www", "test", api.DeployRequest{Target: api.Target{Site: "www"}, Source: "s3://site/site.tar", Activate: true, Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	// New content for the poll trigger, which deploys without Force.
	b.Reset()
	tw = tar.NewWriter(&b)
	body = "<!doctype html><html><head><title>s3</title></head><body>hi again</body></html>\n"
	tw.WriteHeader(&tar.Header{Name: "index.html", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	if _, err := m.Client.PutObject(context.Background(), "site", "site.tar", bytes.NewReader(b.Bytes()), int64(b.Len()), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	w := st.workers["www"]
	w.start() // the poll trigger's first listing deploys site.tar: v3
	defer w.stop()
	store, err := releases.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if cur, _ := store.Current(); cur == "v3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the poll trigger did not deploy v3")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(opened) != 3 {
		t.Fatalf("%d s3 sources opened, want 3", len(opened))
	}
	for i, c := range opened {
		if c != st.s3.Minio() {
			t.Errorf("source %d read through another client", i)
		}
	}
	polls := 0
	for _, tr := range w.triggers {
		if p, ok := tr.(*trigger.Poll); ok {
			polls++
			if p.Client != st.s3.Minio() {
				t.Error("the poll trigger has its own client")
			}
		}
	}
	if polls != 1 || made() != 1 {
		t.Fatalf("%d poll triggers, %d S3 clients made; want 1 and 1", polls, made())
	}
}

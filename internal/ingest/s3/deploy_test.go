package s3_test

import (
	"bytes"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
)

// TestDeployMirroredPrefixTwice: the deploy pipeline gives the S3 source
// the store's state directory, so the second deploy of an `mc mirror`ed
// prefix with an empty marker downloads the one changed object only, as
// its record says.
func TestDeployMirroredPrefixTwice(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	mc := testenv.Tool(t, "mc")
	u, _ := url.Parse(m.URL())
	u.User = url.UserPassword(m.AccessKey, m.SecretKey)
	env := append(os.Environ(), "MC_HOST_t="+u.String(), "MC_CONFIG_DIR="+t.TempDir())
	src := t.TempDir()
	for i := range 50 {
		p := filepath.Join(src, "d", string(rune('a'+i%5)), "p"+string(rune('a'+i/5))+".html")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, bytes.Repeat([]byte{byte('a' + i)}, 100+i), 0o644)
	}
	upload := func() {
		for _, args := range [][]string{{"mirror", "--overwrite", "--quiet", src, "t/site/www/"}, {"pipe", "t/site/www/" + s3.DefaultMarker}} {
			cmd := exec.Command(mc, args...)
			cmd.Env, cmd.Stdin = env, bytes.NewReader(nil)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mc %v: %v\n%s", args, err, out)
			}
		}
	}
	cl, err := s3.NewClient(s3.Config{Endpoint: m.URL(), Region: "us-east-1", Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Retry: s3.Retry{Attempts: 5, Initial: 50 * time.Millisecond, Max: time.Second}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	store, err := releases.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	run := func() map[string]string {
		t.Helper()
		res, err := deploy.Deploy(t.Context(), store, deploy.Request{Source: "s3://site/www/", Activate: true, Sources: ingest.Openers{"s3": cl.Open}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Record.Source.Meta
	}
	upload()
	if meta := run(); meta["downloaded"] != "50" {
		t.Fatalf("first deploy: %v", meta)
	}
	if _, err := os.Stat(filepath.Join(store.StateDir(), s3.SumCacheFile)); err != nil {
		t.Fatalf("no sum cache in the state directory: %v", err)
	}
	changed := filepath.Join(src, "d", "c", "pa.html")
	os.WriteFile(changed, []byte("changed"), 0o644)
	upload()
	if meta := run(); meta["downloaded"] != "1" || meta["linked"] != "49" {
		t.Fatalf("second deploy: %v; want 1 downloaded, 49 linked", meta)
	}
	b, err := os.ReadFile(filepath.Join(root, "current", "d", "c", "pa.html"))
	if err != nil || string(b) != "changed" {
		t.Fatalf("current/d/c/pa.html = %q, %v", b, err)
	}
}

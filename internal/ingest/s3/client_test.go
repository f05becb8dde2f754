package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/testutil/testenv"
)

// One Client serves many sources: they all read through its minio-go
// client.
func TestClientSharedBySources(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	files := site(3, "shared")
	uploadSite(t, m.Client, "site", "www/", files, true)
	c, err := NewClient(testConfig(m))
	if err != nil {
		t.Fatal(err)
	}
	open := ingest.Openers{"s3": c.Open}
	for range 2 {
		src, err := open.Open(context.Background(), "s3://site/www/", ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := src.(*Source).Client(); got != c.Minio() {
			t.Fatalf("source client %p, want the shared %p", got, c.Minio())
		}
		w, dir := newWriter(t, "", nil)
		if _, err := src.Fetch(context.Background(), w); err != nil {
			t.Fatal(err)
		}
		w.Close()
		checkTree(t, dir, files)
	}
	if cfg := c.Config(); cfg.Concurrency != 8 || cfg.Marker != DefaultMarker {
		t.Errorf("Config() without defaults: %+v", cfg)
	}
}

// CredentialsFile is the only source of credentials when set (the
// environment's keys are not used), and a rotated file applies to the
// next request on the same Client.
func TestCredentialsFile(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	files := site(2, "creds")
	uploadSite(t, m.Client, "site", "www/", files, true)
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	t.Setenv("AWS_PROFILE", "")
	file := filepath.Join(t.TempDir(), "credentials")
	write := func(secret string) {
		t.Helper()
		if err := os.WriteFile(file, fmt.Appendf(nil, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", m.AccessKey, secret), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("wrong-secret-123456")
	c, err := NewClient(Config{Endpoint: m.URL(), Region: "us-east-1", CredentialsFile: file,
		Retry: Retry{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	fetchOn := func() error {
		src, err := c.Source("s3://site/www/", ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		w, _ := newWriter(t, "", nil)
		defer w.Close()
		_, err = src.Fetch(context.Background(), w)
		return err
	}
	if err := fetchOn(); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("with a wrong secret in the file (and the right one in the environment): %v, want ErrAccessDenied", err)
	}
	write(m.SecretKey)
	if err := fetchOn(); err != nil {
		t.Fatalf("after the file was rotated: %v", err)
	}
}

// ConfigFromEnv reads the AWS SDK variables; NewClient itself reads none.
func TestConfigFromEnv(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-3")
	t.Setenv("AWS_CA_BUNDLE", "")
	if c := ConfigFromEnv(); c.Endpoint != "http://127.0.0.1:9" || c.Region != "eu-west-3" || c.CAFile != "" {
		t.Fatalf("ConfigFromEnv = %+v", c)
	}
	c, err := NewClient(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Minio().EndpointURL(); u.Host != "s3.amazonaws.com" || u.Scheme != "https" {
		t.Fatalf("zero Config endpoint %v, want https://s3.amazonaws.com (the environment is not read)", u)
	}
}

package testenv

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestMinIOStartStopRestart(t *testing.T) {
	m := StartMinIO(t, nil)
	ctx := context.Background()
	m.MakeBucket(t, "bkt")
	body := []byte("hello")
	if _, err := m.Client.PutObject(ctx, "bkt", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	if _, err := m.Client.StatObject(ctx, "bkt", "k", minio.StatObjectOptions{}); err == nil {
		t.Fatal("stat succeeded against a stopped server")
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	o, err := m.Client.GetObject(ctx, "bkt", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("after restart: got %q, %v; want %q", got, err, body)
	}
	bad, err := m.NewClient(m.AccessKey, "wrong-secret-123456")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.ListBuckets(ctx); err == nil {
		t.Fatal("wrong secret accepted")
	}
}

func TestLookToolMissing(t *testing.T) {
	if _, err := LookTool("no-such-tool-" + RandomString(8)); err == nil {
		t.Fatal("LookTool found a tool that does not exist")
	}
}

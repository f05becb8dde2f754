package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// TestDeployFromS3ByHand runs `releasectl deploy s3://bucket/key` without a
// daemon against a real MinIO: releasectl deploys it itself (direct
// mode), credentials come from the standard AWS variables.
func TestDeployFromS3ByHand(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "builds")
	arch := siteArchive(t, "from-s3", nil)
	if _, err := m.Client.FPutObject(context.Background(), "builds", "site/123.tar.gz", arch, minio.PutObjectOptions{
		UserMetadata: map[string]string{"git-sha": "abc123"}}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	cmd := exec.Command(ctlBin(t), "--root", root, "deploy", "s3://builds/site/123.tar.gz", "--json")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey,
		"AWS_ENDPOINT_URL_S3=" + m.URL(), "AWS_REGION=us-east-1"}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("deploy s3://: %v\n%s\n%s", err, o.String(), e.String())
	}
	var res struct {
		Release struct {
			ID     string `json:"id"`
			Source struct {
				Kind string            `json:"kind"`
				Meta map[string]string `json:"meta"`
			} `json:"source"`
		} `json:"release"`
		Activated bool `json:"activated"`
	}
	if err := json.Unmarshal(o.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, o.String())
	}
	if res.Release.ID != "v1" || !res.Activated || res.Release.Source.Kind != "s3-object" {
		t.Fatalf("result %+v", res)
	}
	if !bytes.Contains(o.Bytes(), []byte("abc123")) {
		t.Errorf("pipeline metadata x-amz-meta-git-sha not recorded: %s", o.String())
	}
	page, _ := os.ReadFile(filepath.Join(root, "current", "index.html"))
	if !bytes.Contains(page, []byte("from-s3")) {
		t.Fatalf("live page: %s", page)
	}
	// The secret never reaches the journal or the record.
	j, _ := os.ReadFile(filepath.Join(root, "state", "journal.jsonl"))
	r, _ := os.ReadFile(filepath.Join(root, "state", "records", "v1.json"))
	if bytes.Contains(j, []byte(m.SecretKey)) || bytes.Contains(r, []byte(m.SecretKey)) {
		t.Fatal("secret key written to the store")
	}
}

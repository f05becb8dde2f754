package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/testutil/testenv"
)

// TestProvenanceFromS3Metadata: an S3 object's x-amz-meta-git-sha,
// -message and other labels, and a prefix's marker metadata, become the
// release's provenance; --commit wins over the metadata; a bad commit in
// the metadata fails the deploy naming its key, and nothing goes live.
func TestProvenanceFromS3Metadata(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "builds")
	ctx := context.Background()
	put := func(key, file string, body []byte, meta map[string]string) {
		t.Helper()
		var err error
		if file != "" {
			_, err = m.Client.FPutObject(ctx, "builds", key, file, minio.PutObjectOptions{UserMetadata: meta})
		} else {
			_, err = m.Client.PutObject(ctx, "builds", key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{UserMetadata: meta})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	put("site/1.tar.gz", siteArchive(t, "one", nil), nil, map[string]string{"git-sha": "ABC123", "message": "fix the menu", "branch": "main"})
	put("site/2.tar.gz", siteArchive(t, "two", nil), nil, map[string]string{"git-sha": "not-a-sha"})
	// A prefix: the marker carries the metadata.
	mod, _ := testenv.ModuleRoot()
	site := filepath.Join(mod, "examples", "site")
	filepath.WalkDir(site, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(site, p)
			put("tree/3/"+filepath.ToSlash(rel), p, nil, nil)
		}
		return err
	})
	put("tree/3/.release-complete", "", nil, map[string]string{"commit": "def456", "job": "77"})

	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	deploy := func(args ...string) (int, api.DeployResult, string) {
		t.Helper()
		cmd := exec.Command(ctlBin(t), append([]string{"--root", root, "--json", "deploy"}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(),
			"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey,
			"AWS_ENDPOINT_URL_S3=" + m.URL(), "AWS_REGION=us-east-1"}
		code, out, errs := runCmd(t, cmd)
		var r api.DeployResult
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		}
		return code, r, errs
	}

	code, r, errs := deploy("s3://builds/site/1.tar.gz")
	if p := r.Release.Provenance; code != 0 || p == nil || p.Commit != "abc123" || p.Message != "fix the menu" || p.Meta["branch"] != "main" || len(p.Meta) != 1 {
		t.Fatalf("object with metadata: exit %d, provenance %+v\n%s", code, r.Release.Provenance, errs)
	}
	code, r, errs = deploy("s3://builds/site/1.tar.gz", "--force", "--commit", "0000aaaa", "--meta", "branch=hotfix")
	if p := r.Release.Provenance; code != 0 || p.Commit != "0000aaaa" || p.Message != "fix the menu" || p.Meta["branch"] != "hotfix" {
		t.Fatalf("flags over metadata: exit %d, provenance %+v\n%s", code, r.Release.Provenance, errs)
	}
	code, _, errs = deploy("s3://builds/site/2.tar.gz")
	if code != api.ExitFailed || !strings.Contains(errs, "x-amz-meta-git-sha") || !strings.Contains(errs, "not-a-sha") {
		t.Fatalf("bad metadata commit: exit %d\n%s", code, errs)
	}
	if l, _ := os.Readlink(filepath.Join(root, "current")); l != "releases/v2" {
		t.Fatalf("current -> %s after a failed deploy, want releases/v2", l)
	}
	code, r, errs = deploy("s3://builds/tree/3/")
	if p := r.Release.Provenance; code != 0 || p == nil || p.Commit != "def456" || p.Meta["job"] != "77" {
		t.Fatalf("prefix with marker metadata: exit %d, provenance %+v\n%s", code, r.Release.Provenance, errs)
	}
}

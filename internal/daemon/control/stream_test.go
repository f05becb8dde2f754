package control

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/archive"
	"github.com/example/release-agent/releases"
)

// TestRefusesLocalPath: a writer (root) asking the daemon to read a local
// path is refused; nothing is read, nothing staged.
func TestRefusesLocalPath(t *testing.T) {
	f := start(t, "")
	h := f.srv.Handler()
	secret := site(t, "secret")
	req := httptest.NewRequest("POST", "http://"+Host+"/v0/deploy", strings.NewReader(`{"site":"www","source":"`+secret+`","activate":true}`))
	req = req.WithContext(context.WithValue(req.Context(), peerKey{}, Peer{UID: 0, User: "root", PID: 1}))
	req.Header.Set(APIHeader, APIVersion)
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.code != http.StatusForbidden || !strings.Contains(rec.body.String(), "the daemon does not read local paths for callers; releasectl streams them") ||
		!strings.Contains(rec.body.String(), secret) {
		t.Fatalf("deploy of a local path: %d %s", rec.code, rec.body.String())
	}
	if ents, _ := os.ReadDir(filepath.Join(f.root, releases.ReleasesDir)); len(ents) != 0 {
		t.Fatalf("releases after the refusal: %v", ents)
	}
	// The same holds for relative paths and anything without a scheme.
	for _, src := range []string{"site", "./s3:/x", "-"} {
		if err := CheckDeploy(&api.DeployRequest{Source: src}); !errors.Is(err, ErrLocalPath) || !errors.Is(err, api.ErrDenied) {
			t.Errorf("CheckDeploy(%q) = %v", src, err)
		}
	}
	if err := CheckDeploy(&api.DeployRequest{Source: "s3://bucket/site.tar.gz"}); err != nil {
		t.Errorf("CheckDeploy(s3) = %v", err)
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tarGzOf is the tar.gz of dir, made as releasectl streams a directory.
func tarGzOf(t *testing.T, dir string) []byte {
	t.Helper()
	ls, err := ingest.StreamLocal(context.Background(), dir, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.Copy(zw, ls); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestStreamedDeploys: archives sent as the body, in each format, with
// --sha256 checked on the streamed bytes; the record says "streamed".
func TestStreamedDeploys(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("deploys as a writer: run as root")
	}
	f := start(t, "")
	ctx := context.Background()
	page := "<!doctype html><html><head><title>z</title></head><body><h1>z</h1></body></html>\n"
	zipBytes := zipOf(t, map[string]string{"index.html": page})
	res, err := f.client.Deploy(ctx, api.DeployRequest{Source: "build/site.zip", Stream: bytes.NewReader(zipBytes), StreamFrom: "stdin", Activate: true,
		SHA256: sha(zipBytes)})
	if err != nil {
		t.Fatalf("zip stream: %v", err)
	}
	src := res.Release.Source
	if src.Spec != "build/site.zip" || src.Kind != "stream:zip" || src.Meta["streamed"] != "true" || src.Meta["from"] != "stdin" || src.SHA256 != sha(zipBytes) {
		t.Errorf("zip record source = %+v", src)
	}
	// A wrong sum fails and changes nothing; the spool is gone.
	_, err = f.client.Deploy(ctx, api.DeployRequest{Source: "-", Stream: bytes.NewReader(zipBytes), Activate: true, SHA256: strings.Repeat("0", 64)})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("zip with a wrong sum: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.root, releases.StateDir, "staging")); len(ents) != 0 {
		t.Errorf("staging area after a failed zip stream: %v", ents)
	}
	tgz := tarGzOf(t, site(t, "tgz"))
	_, err = f.client.Deploy(ctx, api.DeployRequest{Source: "-", Stream: bytes.NewReader(tgz), Activate: true, SHA256: strings.Repeat("0", 64)})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("tar.gz with a wrong sum: %v", err)
	}
	res, err = f.client.Deploy(ctx, api.DeployRequest{Source: "-", Stream: bytes.NewReader(tgz), Activate: true, SHA256: sha(tgz)})
	if err != nil {
		t.Fatalf("tar.gz stream: %v", err)
	}
	if k := res.Release.Source.Kind; k != "stream:tar.gz" {
		t.Errorf("kind = %q", k)
	}
	if cur, _ := os.Readlink(filepath.Join(f.root, "current")); cur != "releases/"+res.Release.ID {
		t.Errorf("current -> %q, want %s", cur, res.Release.ID)
	}
	// A local archive file is streamed by the client as it is.
	file := filepath.Join(t.TempDir(), "site.tar.gz")
	if err := os.WriteFile(file, tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	// (Force: it holds the content just deployed, otherwise "already live".)
	res, err = f.client.Deploy(ctx, api.DeployRequest{Source: file, Activate: true, Force: true})
	if err != nil {
		t.Fatalf("local tar.gz: %v", err)
	}
	if s := res.Release.Source; s.Spec != file || s.Kind != "stream:tar.gz" || s.Meta["from"] != "file" {
		t.Errorf("local file record source = %+v", s)
	}
}

// FuzzDeployRequest: whatever the header and body, decoding a streamed
// deploy never panics, and a request that decodes survives a round trip
// through client.EncodeRequest; format detection always answers.
func FuzzDeployRequest(f *testing.F) {
	f.Add(`{"site":"www","source":"/srv/build","activate":true}`, []byte{0x1f, 0x8b, 8, 0})
	f.Add(`{"source":"-","sha256":"`+strings.Repeat("ab", 32)+`","wait":1000}`, []byte("PK\x03\x04"))
	f.Add(`{"source":"caf\u00e9 \ud83d\ude00","stream_from":"dir"}`, []byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Add(`{"bogus":1}`, []byte("index.html\x00"))
	f.Add(`{}{}`, []byte{})
	f.Fuzz(func(t *testing.T, hdr string, body []byte) {
		_ = archive.Sniff(body)
		r, err := http.NewRequest("POST", "http://"+Host+"/v0/deploy", bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		r.Header.Set("Content-Type", client.StreamType)
		r.Header[client.RequestHeader] = []string{hdr}
		req, err := DecodeDeploy(r)
		if err != nil {
			if !errors.Is(err, api.ErrUsage) {
				t.Fatalf("decode error %v is not a usage error", err)
			}
			return
		}
		if req.Stream == nil {
			t.Fatal("decoded stream request without a stream")
		}
		if err := CheckDeploy(req); err != nil {
			t.Fatalf("a streamed request refused: %v", err)
		}
		req.Stream = nil
		enc, err := client.EncodeRequest(*req)
		if err != nil {
			return // over MaxRequestHeader once escaped
		}
		for i := 0; i < len(enc); i++ {
			if enc[i] < 0x20 || enc[i] >= 0x7f {
				t.Fatalf("encoded request has byte %#x", enc[i])
			}
		}
		again, err := client.DecodeRequest(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if !reflect.DeepEqual(again, *req) {
			t.Fatalf("round trip: %+v != %+v", again, *req)
		}
	})
}

package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/daemon/trigger"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/releases"
)

// TestTriggerOutcomeSentinels: the classification goes by sentinel
// through any wrapping.
func TestTriggerOutcomeSentinels(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("v7: fetch: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		want trigger.Outcome
	}{
		{"ok", nil, trigger.Deployed},
		{"rejected", wrap(&api.Error{Code: "rejected", Message: "2 blocking findings"}), trigger.Rejected},
		{"access denied", wrap(&s3.ObjectError{Bucket: "b", Key: "k", Err: s3.ErrAccessDenied}), trigger.Failed},
		{"not found", wrap(fmt.Errorf("%w: NoSuchKey", ingest.ErrNotFound)), trigger.Failed},
		{"checksum", wrap(ingest.ErrChecksum), trigger.Failed},
		{"no marker", wrap(s3.ErrIncomplete), trigger.Failed},
		{"bad gzip", wrap(gzip.ErrHeader), trigger.Failed},
		{"panic", wrap(&deploy.PanicError{Value: "x"}), trigger.Failed},
		{"unavailable", wrap(fmt.Errorf("%w after 8 attempts: connection refused", s3.ErrUnavailable)), trigger.Retry},
		{"locked", wrap(releases.ErrLocked), trigger.Retry},
		{"timeout", wrap(context.DeadlineExceeded), trigger.Retry},
		{"unknown", errors.New("something else"), trigger.Retry},
	} {
		if got := triggerOutcome(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTriggerOutcomeBadArchives: what real deploys of broken archives
// fail with is classified permanent (not retried until the artifact
// changes), with no message matching.
func TestTriggerOutcomeBadArchives(t *testing.T) {
	d, _ := panicDaemon(t)
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("not a tar header "), 100))
	zw.Close()
	for name, body := range map[string][]byte{
		"garbage.tar.gz":  []byte("this is not gzip at all"),
		"notar.tar.gz":    gz.Bytes(),
		"truncated.zip":   []byte("PK\x03\x04\x14\x00\x00\x00"),
		"garbage.tar.zst": []byte("(\xb5/\xfdgarbage"),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := d.deploy(context.Background(), "docs", "test", api.DeployRequest{Target: api.Target{Site: "docs"}, Source: p, Activate: true})
		if err == nil {
			t.Fatalf("%s deployed", name)
		}
		if got := triggerOutcome(err); got != trigger.Failed {
			t.Errorf("%s: %v classified %v, want Failed (permanent)", name, err, got)
		}
	}
}

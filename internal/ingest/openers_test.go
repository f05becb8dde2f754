package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Openers: a scheme goes to the caller's opener, a path to OpenLocal, and
// an unknown scheme (or any scheme with no openers) is an error listing
// what is supported.
func TestOpeners(t *testing.T) {
	var got string
	o := Openers{"s3": func(_ context.Context, spec string, opts Options) (Source, error) {
		got = spec + " " + opts.SHA256
		return nil, errors.New("opened")
	}}
	if _, err := o.Open(context.Background(), "s3://b/k", Options{SHA256: "x"}); err == nil || err.Error() != "opened" || got != "s3://b/k x" {
		t.Fatalf("s3: err %v, opener saw %q", err, got)
	}
	_, err := o.Open(context.Background(), "gs://b/k", Options{})
	if err == nil || !strings.Contains(err.Error(), `unsupported scheme "gs"`) || !strings.Contains(err.Error(), "s3://") {
		t.Fatalf("gs: %v", err)
	}
	for _, none := range []Openers{nil, {}} {
		_, err := none.Open(context.Background(), "s3://b/k", Options{})
		if err == nil || !strings.Contains(err.Error(), `unsupported scheme "s3" (supported: local paths)`) {
			t.Fatalf("no openers: %v", err)
		}
	}
	if _, err := o.Open(context.Background(), t.TempDir(), Options{}); err != nil {
		t.Fatalf("a directory: %v", err)
	}
}

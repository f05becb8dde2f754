package trigger

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/testutil/testenv"
)

func TestServerFilter(t *testing.T) {
	for _, tc := range []struct {
		f              Filter
		prefix, suffix string
	}{
		{Filter{Prefix: "www/site.tar.gz", Suffix: "www/site.tar.gz"}, "www/site.tar.gz", ""},
		{Filter{Prefix: "www/", Suffix: ".release-complete"}, "www/", ".release-complete"},
		{Filter{Prefix: "www/"}, "www/", ""},
		{Filter{}, "", ""},
	} {
		p, s := serverFilter(tc.f)
		if p != tc.prefix || s != tc.suffix {
			t.Errorf("serverFilter(%+v) = %q, %q; want %q, %q", tc.f, p, s, tc.prefix, tc.suffix)
		}
	}
}

// An object source's filter (Prefix and Suffix both the key) receives the
// upload of that key from a real MinIO, and not the upload of a longer key.
func TestListenObjectKey(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "site")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := "www/site.tar.gz"
	l := &Listen{Client: m.Client, Filter: Filter{Bucket: "site", Prefix: key, Suffix: key},
		Backoff: Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		Logger:  slog.New(slog.DiscardHandler)}
	out := make(chan Event, 16)
	go l.Run(ctx, out)
	e := waitUpload(t, m.Client, out, key, "v1")
	if e.Key != key || e.Origin != "listen" || e.Received.IsZero() {
		t.Fatalf("got %+v", e)
	}
	// The stream is open now: a longer key, then the key again. The next
	// event must be the key's.
	for _, k := range []string{key + ".old", key} {
		if _, err := m.Client.PutObject(ctx, "site", k, bytes.NewReader([]byte("v2")), 2, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case e := <-out:
		if e.Key != key {
			t.Fatalf("event for %q passed the filter of %q", e.Key, key)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event for the second upload")
	}
}

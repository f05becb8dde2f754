package trigger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEventMinIO(t *testing.T) {
	evs, err := ParseEvent(readEvent(t, "minio-put.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		Bucket: "site", Key: "releases/my site v2.tar.gz", ETag: "d41d8cd98f00b204e9800998ecf8427e",
		Sequencer: "1863F0A1B2C3D4E5", Size: 1024, Name: "s3:ObjectCreated:Put",
		Time: time.Date(2025, 9, 7, 16, 20, 0, 123e6, time.UTC),
	}
	if len(evs) != 1 || evs[0] != want {
		t.Fatalf("got %+v\nwant %+v", evs, want)
	}
}

func TestParseEventAWS(t *testing.T) {
	evs, err := ParseEvent(readEvent(t, "aws-put.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
	e := evs[0]
	if e.Key != "prefix/.release-complete" || e.ETag != "0123456789abcdef0123456789abcdef" || e.VersionID != "096fKKXTRTtl3on89fVO.nfljtsv6qko" || e.Removed() {
		t.Fatalf("got %+v", e)
	}
	if evs, err := ParseEvent(readEvent(t, "aws-test-event.json")); err != nil || len(evs) != 0 {
		t.Fatalf("test event: %v, %v", evs, err)
	}
	evs, err = ParseEvent(readEvent(t, "minio-delete.json"))
	if err != nil || len(evs) != 1 || !evs[0].Removed() || evs[0].Key != "a b" {
		t.Fatalf("delete: %+v, %v", evs, err)
	}
}

func TestParseEventMalformed(t *testing.T) {
	for _, name := range []string{"malformed-nobucket.json", "malformed-truncated.json", "malformed-escape.json"} {
		_, err := ParseEvent(readEvent(t, name))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	for _, s := range []string{"", "null", "[]", `{"Records":{}}`, `{"Records":[]} {}`, `{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}]}`} {
		if _, err := ParseEvent([]byte(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: err = %v, want ErrMalformed", s, err)
		}
	}
}

// FuzzParseEvent checks that ParseEvent never panics and that whatever it
// accepts is usable: bucket and key set, no negative size.
func FuzzParseEvent(f *testing.F) {
	ents, err := os.ReadDir(filepath.Join("testdata", "events"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		f.Add(readEvent(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := ParseEvent(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		for _, e := range evs {
			if e.Bucket == "" || e.Key == "" || e.Size < 0 || strings.HasPrefix(e.ETag, `"`) {
				t.Fatalf("accepted a bad event: %+v", e)
			}
		}
	})
}

func TestFilter(t *testing.T) {
	f := Filter{Bucket: "b", Prefix: "site/", Suffix: ".release-complete"}
	for _, c := range []struct {
		e    Event
		want bool
	}{
		{Event{Bucket: "b", Key: "site/.release-complete"}, true},
		{Event{Bucket: "c", Key: "site/.release-complete"}, false},
		{Event{Bucket: "b", Key: "other/.release-complete"}, false},
		{Event{Bucket: "b", Key: "site/index.html"}, false},
	} {
		if got := f.Match(c.e); got != c.want {
			t.Errorf("Match(%+v) = %v", c.e, got)
		}
	}
}

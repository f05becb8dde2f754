package fleet

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParseDesired: desired.json comes from S3, written by anyone with
// access to the prefix. ParseDesired never panics, every refusal wraps
// ErrInvalid or ErrSchema, and what it accepts survives a round trip
// through the writer's encoding unchanged and still valid.
func FuzzParseDesired(f *testing.F) {
	f.Add([]byte(`{"schema":1,"generation":3,"release":"r3","artifact":{"url":"s3://builds/www.tar.gz"},"phase":"stage","who":"ci@build","when":"2026-12-04T10:00:00Z"}`))
	f.Add([]byte(`{"schema":1,"generation":4,"release":"r1","artifact":{"url":"s3://builds/a/","sha256":"` + hex64 + `"},"phase":"activate","releases":[{"release":"r3","artifact":{"url":"s3://builds/b.tar.gz"}}]}`))
	f.Add([]byte(`{"schema":2}`))
	f.Add([]byte(`{"schema":1,"generation":1,"release":"../x","artifact":{"url":"/etc/passwd"},"phase":"stage"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseDesired(body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrSchema) {
				t.Fatalf("refusal %v wraps neither ErrInvalid nor ErrSchema", err)
			}
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseDesired(out)
		if err != nil {
			t.Fatalf("accepted %s but not its own encoding %s: %v", body, out, err)
		}
		if !reflect.DeepEqual(stripTimes(d), stripTimes(back)) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", d, back)
		}
	})
}

// FuzzParseHostReport: a report is read by operators from S3.
func FuzzParseHostReport(f *testing.F) {
	f.Add([]byte(`{"schema":1,"host":"web1","generation":3,"staged":{"release":"r3","id":"v7"},"live":{"release":"r1","id":"v5"},"state":"staged","heartbeat":"2026-12-04T10:00:00Z"}`))
	f.Add([]byte(`{"schema":1,"host":"web 1"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseHostReport(body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrSchema) {
				t.Fatalf("refusal %v wraps neither ErrInvalid nor ErrSchema", err)
			}
			return
		}
		if r.Host == "" || r.Schema != HostSchema {
			t.Fatalf("accepted a report without host or schema: %+v", r)
		}
	})
}

const hex64 = "a784ed157df7bf74dd2fd58eb354953e5f05595f4539c5f322852b602b195d9d"

func stripTimes(d *Desired) Desired {
	c := *d
	c.When = c.When.UTC()
	c.Releases = append([]Labelled(nil), d.Releases...)
	for i := range c.Releases {
		c.Releases[i].When = c.Releases[i].When.UTC()
	}
	return c
}

package accesslog

import (
	"errors"
	"testing"
)

// checkEntry checks what every parsed entry must be.
func checkEntry(t *testing.T, line []byte, e Entry) {
	t.Helper()
	if e.Status < 100 || e.Status > 999 {
		t.Errorf("status %d from %q", e.Status, line)
	}
	if e.Bytes < 0 {
		t.Errorf("bytes %d from %q", e.Bytes, line)
	}
	if e.Duration < 0 {
		t.Errorf("duration %v from %q", e.Duration, line)
	}
	if e.Time.UnixNano() < 0 {
		t.Errorf("time %v from %q", e.Time, line)
	}
	if r := e.Release; r != "" {
		if len(r) < 2 || r[0] != 'v' {
			t.Errorf("release %q from %q", r, line)
		}
		for _, c := range []byte(r[1:]) {
			if c < '0' || c > '9' {
				t.Errorf("release %q from %q", r, line)
			}
		}
	}
	IsPage(e.Path)
	w := NewWindow(0)
	w.Add(e)
	if c := w.Counts(e.Release, e.Time, e.Time.Add(1)); c.Requests != 1 || c.P50 < 0 {
		t.Errorf("window of %+v: %+v", e, c)
	}
}

func checkErr(t *testing.T, line []byte, e Entry, err error) {
	t.Helper()
	if !errors.Is(err, ErrFormat) {
		t.Errorf("error %v from %q does not wrap ErrFormat", err, line)
	}
	if e != (Entry{}) {
		t.Errorf("entry %+v with error %v", e, err)
	}
}

// FuzzParseNginx: ParseNginx never panics, a parsed entry is sane and
// names the release its root names.
func FuzzParseNginx(f *testing.F) {
	f.Add(benchLine)
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseNginx(line)
		if err != nil {
			checkErr(t, line, e, err)
			return
		}
		checkEntry(t, line, e)
		if e.Release != ReleaseOf(e.Root) {
			t.Errorf("release %q of root %q", e.Release, e.Root)
		}
	})
}

// FuzzParseCaddy: ParseCaddy never panics, a parsed entry is sane and has
// no release.
func FuzzParseCaddy(f *testing.F) {
	f.Add([]byte(caddyAccess))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseCaddy(line)
		if err != nil {
			checkErr(t, line, e, err)
			return
		}
		checkEntry(t, line, e)
		if e.Release != "" || e.Root != "" {
			t.Errorf("release %q, root %q from a Caddy line", e.Release, e.Root)
		}
	})
}

package releases

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/example/release-agent/internal/jsonlite"
)

// checkFast decodes b with fast and, if fast handles it, checks that
// encoding/json accepts b too and gives the same value.
func checkFast[T any](t *testing.T, b []byte, fast func(*jsonlite.Reader, *T)) (handled bool) {
	t.Helper()
	var got T
	r := jsonlite.NewReader(b)
	fast(&r, &got)
	if !r.End() {
		return false
	}
	var want T
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%q: jsonlite decoded it, encoding/json refuses it: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\njsonlite      %+v\nencoding/json %+v", b, got, want)
	}
	return true
}

// The seed corpora (documents as the store writes them, and near misses)
// are in testdata/fuzz/FuzzDecode*.

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkFast(t, b, decodeCheckpoint) })
}

func FuzzDecodeRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkFast(t, b, decodeRecord) })
}

func FuzzDecodeSwitchEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkFast(t, b, decodeSwitchEvent) })
}

// TestDecodeFastHandlesWhatTheStoreWrites: the documents this package
// writes take the fast path (otherwise it would save nothing), and
// unusual ones fall back to encoding/json with its result.
func TestDecodeFastHandlesWhatTheStoreWrites(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{ID: "v7", Status: StatusStaged, Source: SourceInfo{Spec: "s3://b/site.tar.gz", Kind: "s3-object", SHA256: "ab", Size: 9, Meta: map[string]string{"etag": "x"}},
		Provenance: &Provenance{Commit: "abc123", Message: "fix the menu", Meta: map[string]string{"branch": "main", "job": "42"}},
		Who:        LocalWho("cli"), Files: 3, Bytes: 10, Hashed: true, Bad: "rolled back at 2026-12-01T18:13:09Z"}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !checkFast(t, b, decodeRecord) {
		t.Errorf("a record as written takes the slow path: %s", b)
	}
	ls := newLiveState()
	ls.push("v1")
	ls.push("v2")
	ls.Bad["v1"] = "rolled back"
	ls.end = 1234
	if err := st.writeCheckpoint(ls); err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile(st.state(liveName))
	if err != nil {
		t.Fatal(err)
	}
	if !checkFast(t, cb, decodeCheckpoint) {
		t.Errorf("a checkpoint as written takes the slow path: %s", cb)
	}
	ev := Event{Event: EvRolledBack, Release: "v2", From: "v1", Who: LocalWho("cli")}
	line := ev.appendJSON(nil)
	if !checkFast(t, line, decodeSwitchEvent) {
		t.Errorf("a journal line as written takes the slow path: %s", line)
	}
	for _, odd := range []string{
		`{"id":"v\u0037","status":"staged"}`,     // an escape
		`{"ID":"v7"}`,                            // another case: encoding/json matches it
		`{"id":"v7","id":"v8"}`,                  // repeated
		`{"files":1.0}`,                          // not an integer
		`{"created":"2026-12-01T18:13:09.000Z"}`, // not as MarshalJSON writes it
		`{"source":{"meta":{"a":"b"}},"bad":null}`,
		`{"provenance":{"commit":"ab12","meta":{"a":"b"}},"provenance":null}`,  // repeated
		`{"provenance":{"commit":"ab12","meta":null,"message":"m"},"id":"v1"}`, // null meta
		`{"provenance":null,"id":"v1","status":"staged"}`,                      // null
		`{"id":"v1","status":"staged"}`,                                        // written before provenance
	} {
		var fast, slow Record
		err1 := unmarshal([]byte(odd), &fast, decodeRecord)
		err2 := json.Unmarshal([]byte(odd), &slow)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: unmarshal %+v (%v), encoding/json %+v (%v)", odd, fast, err1, slow, err2)
		}
	}
}

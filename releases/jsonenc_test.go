package releases

import (
	"encoding/json"
	"testing"
	"time"
)

// The seed corpus of FuzzJSONEncoding lives in testdata/fuzz.

func checkJSONEncoding(t *testing.T, s1, s2 string, n int, ts int64) {
	t.Helper()
	tm := time.Unix(0, ts).UTC()
	if y := tm.Year(); y < 0 || y > 9999 {
		return // MarshalJSON refuses them; the journal only holds clock readings
	}
	who := Who{UID: n, User: s1, SudoUser: s2, SSHClient: s1 + s2, PID: n / 3, Via: s2}
	for _, ev := range []Event{
		{Time: tm, Event: s1, Release: s2, From: s1, Source: s2, SHA256: s1, Who: who, Outcome: s2, Error: s1, Detail: s2},
		{Time: tm.In(time.FixedZone("x", 3600)), Event: s1, Outcome: s2},
		{Time: tm, Event: s1, Provenance: &Provenance{Commit: s1, Message: s2, Meta: map[string]string{s1: s2, "b": s1, s2 + "x": ""}}, Who: who},
		{Time: tm, Provenance: &Provenance{Meta: map[string]string{s2: s1}}},
		{Time: tm, Provenance: &Provenance{Message: s1}},
		{Time: tm, Provenance: &Provenance{}},
		{},
	} {
		want, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("Event:\n got  %s\n want %s", got, want)
		}
	}
	for _, h := range []Holder{
		{PID: n, Command: s1, Since: tm, Who: &who, Op: s2},
		{PID: -n, Command: s2, Since: tm},
	} {
		want, err := json.Marshal(&h)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("Holder:\n got  %s\n want %s", got, want)
		}
	}
}

// TestJSONEncodingMatchesMarshal: the hand-written encodings of journal
// events and lock holders are those of json.Marshal, byte for byte.
func TestJSONEncodingMatchesMarshal(t *testing.T) {
	for _, c := range []struct{ s1, s2 string }{
		{"", ""},
		{"releasectl rollback --to v3", "alice"},
		{"quote \" backslash \\ slash /", "<script>&amp;</script>"},
		{"\x00\x01\x1f\x7f\b\f\n\r\t", "é ü 日本 \U0001F600"},
		{"bad \xff\xfe utf-8 \xc3", "line\u2028para\u2029end"},
	} {
		checkJSONEncoding(t, c.s1, c.s2, 12345, time.Date(2026, 12, 1, 18, 6, 17, 505123400, time.UTC).UnixNano())
		checkJSONEncoding(t, c.s1, c.s2, 0, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	}
}

func FuzzJSONEncoding(f *testing.F) {
	f.Add("releasectl rollback", "root", 1000, int64(1764612377505123400))
	f.Add("\x00<>&\u2028\xff", "\"\\", -7, int64(0))
	f.Fuzz(func(t *testing.T, s1, s2 string, n int, ts int64) {
		checkJSONEncoding(t, s1, s2, n, ts)
	})
}

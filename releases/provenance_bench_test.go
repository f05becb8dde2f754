package releases

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkEventJSON: the journal line of a switch, by hand and with
// json.Marshal, without and with a provenance. Compare the four as ratios
// of one run (go test -bench EventJSON ./releases).
func BenchmarkEventJSON(b *testing.B) {
	base := Event{Time: time.Now().UTC(), Event: EvActivated, Release: "v42", From: "v41", Source: "-",
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Who: LocalWho("control")}
	with := base
	with.Provenance = &Provenance{Commit: "3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c", Message: "fix the menu",
		Meta: map[string]string{"job": "https://ci.example/42", "branch": "main"}}
	for _, c := range []struct {
		name string
		ev   Event
	}{{"plain", base}, {"provenance", with}} {
		b.Run("hand/"+c.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			for b.Loop() {
				buf = c.ev.appendJSON(buf[:0])
			}
		})
		b.Run("marshal/"+c.name, func(b *testing.B) {
			for b.Loop() {
				json.Marshal(&c.ev)
			}
		})
	}
}

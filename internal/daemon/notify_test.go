package daemon

import (
	"testing"

	"github.com/example/release-agent/internal/notify"
)

// provenance reads commit, message and meta from a record's JSON, at the
// top level or in a "provenance" object, whichever the record has.
func TestProvenanceFromRecord(t *testing.T) {
	type prov struct {
		Commit  string            `json:"commit"`
		Message string            `json:"message"`
		Meta    map[string]string `json:"meta"`
	}
	nested := struct {
		ID         string `json:"id"`
		Provenance prov   `json:"provenance"`
	}{"v3", prov{"abc123", "Fix it", map[string]string{"job": "https://ci/1"}}}
	var ev notify.Event
	provenance(&ev, nested)
	if ev.Commit != "abc123" || ev.Message != "Fix it" || ev.Meta["job"] != "https://ci/1" {
		t.Errorf("nested: %+v", ev)
	}
	ev = notify.Event{}
	provenance(&ev, prov{Commit: "def456"})
	if ev.Commit != "def456" || ev.Message != "" || ev.Meta != nil {
		t.Errorf("top level: %+v", ev)
	}
	ev = notify.Event{}
	provenance(&ev, struct {
		ID string `json:"id"`
	}{"v1"})
	if ev.Commit != "" || ev.Meta != nil {
		t.Errorf("none: %+v", ev)
	}
}

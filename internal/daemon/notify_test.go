package daemon

import (
	"testing"

	"github.com/example/release-agent/internal/notify"
	"github.com/example/release-agent/releases"
)

// provenance copies a record's commit, message and meta into the event,
// and nothing when the record has none.
func TestProvenanceFromRecord(t *testing.T) {
	var ev notify.Event
	p := &releases.Provenance{Commit: "abc123", Message: "Fix it", Meta: map[string]string{"job": "https://ci/1"}}
	provenance(&ev, p)
	if ev.Commit != "abc123" || ev.Message != "Fix it" || ev.Meta["job"] != "https://ci/1" {
		t.Errorf("with provenance: %+v", ev)
	}
	p.Meta["job"] = "changed"
	if ev.Meta["job"] != "https://ci/1" {
		t.Error("the event shares the record's meta map")
	}
	ev = notify.Event{}
	provenance(&ev, nil)
	if ev.Commit != "" || ev.Meta != nil {
		t.Errorf("none: %+v", ev)
	}
}

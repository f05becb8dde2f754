package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/api"
)

// TestStatusShowsWatch: status prints the running watch and the last
// verdict with their figures, and nothing without them.
func TestStatusShowsWatch(t *testing.T) {
	r := &api.StatusResult{Root: "/srv/www", Daemon: true}
	var b bytes.Buffer
	printStatus(&b, r)
	if strings.Contains(b.String(), "watch:") || strings.Contains(b.String(), "verdict:") {
		t.Fatalf("a watch printed without one:\n%s", b.String())
	}
	since := time.Date(2026, 12, 4, 19, 0, 0, 0, time.Local)
	r.Watch = &api.WatchStatus{Release: "v8", Baseline: "v7", Since: since, Until: since.Add(5 * time.Minute),
		Decision: "pending", Reason: "12 of 100 page requests so far; page error rate 0.0% (0/12) vs 0.4% (2/480) v7 before, threshold +2.0 points"}
	r.LastWatch = &api.WatchStatus{Release: "v7", Decision: "pass", At: time.Now(),
		Reason: "page error rate 0.4% (2/480) vs 0.5% (3/600) v6 before, threshold +2.0 points"}
	b.Reset()
	printStatus(&b, r)
	for _, want := range []string{
		"watch:    v8 since ", ", until 19:05:00: 12 of 100 page requests so far; page error rate 0.0% (0/12) vs 0.4% (2/480) v7 before, threshold +2.0 points\n",
		"verdict:  v7 pass (", "): page error rate 0.4% (2/480) vs 0.5% (3/600) v6 before, threshold +2.0 points\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/api"
)

// TestStatusShowsGiveUp: status prints what the triggers gave up on, and
// nothing when there is none.
func TestStatusShowsGiveUp(t *testing.T) {
	r := &api.StatusResult{Root: "/srv/www", Daemon: true}
	var b bytes.Buffer
	printStatus(&b, r)
	if strings.Contains(b.String(), "giving up") {
		t.Fatalf("a give-up printed without one:\n%s", b.String())
	}
	r.GaveUp = &api.GiveUp{Source: "s3://builds/www.tar.gz", Attempts: 5, Error: "s3 service unavailable", Time: time.Now()}
	b.Reset()
	printStatus(&b, r)
	if !strings.Contains(b.String(), "trigger:  giving up on s3://builds/www.tar.gz after 5 attempts (at ") ||
		!strings.Contains(b.String(), "): s3 service unavailable\n") {
		t.Fatalf("status:\n%s", b.String())
	}
	r.GaveUp.Attempts = 1 // a permanent failure
	b.Reset()
	printStatus(&b, r)
	if !strings.Contains(b.String(), "after 1 attempt (at ") {
		t.Fatalf("status:\n%s", b.String())
	}
}

package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/example/release-agent/api"
)

// The canary verbs through Local: start (with carry-over both ways, so
// each root serves the other's hashed stylesheet), status, resize, a
// rollback without --to aborting the canary, usage errors, and promote.
func TestCanaryVerbs(t *testing.T) {
	ctx := context.Background()
	l := newLocal()
	root := t.TempDir()
	tg := api.Target{Root: root}
	if _, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: site(t, "one"), Activate: true}); err != nil {
		t.Fatal(err)
	}
	for _, title := range []string{"two", "three"} {
		if _, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: site(t, title)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []api.CanaryRequest{
		{Target: tg, Action: "start"},
		{Target: tg, Action: "start", ID: "v2", Percent: 100},
		{Target: tg, Action: "promote", Percent: 5},
		{Target: tg, Action: "grow"},
	} {
		if _, err := l.Canary(ctx, bad); !errors.Is(err, api.ErrUsage) {
			t.Errorf("%+v: %v, want a usage error", bad, err)
		}
	}
	if _, err := l.Canary(ctx, api.CanaryRequest{Target: tg, Action: api.CanaryAbort}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("abort without a canary: %v", err)
	}
	r, err := l.Canary(ctx, api.CanaryRequest{Target: tg, Action: api.CanaryStart, ID: "v2"})
	if err != nil || r.Release != "v2" || r.Stable != "v1" || r.Percent != DefaultCanaryPercent {
		t.Fatalf("start: %+v %v", r, err)
	}
	// Both trees hold both hashed stylesheets.
	for _, id := range []string{"v1", "v2"} {
		css, _ := filepath.Glob(filepath.Join(root, "releases", id, "css", "site.*.css"))
		if len(css) != 2 {
			t.Errorf("%s has hashed stylesheets %v, want its own and the other's", id, css)
		}
	}
	st, err := l.Status(ctx, tg)
	if err != nil || st.Canary == nil || st.Canary.Release != "v2" || st.Canary.Percent != 10 || st.Canary.Since.IsZero() {
		t.Fatalf("status: %+v %v", st.Canary, err)
	}
	if r, err := l.Canary(ctx, api.CanaryRequest{Target: tg, Action: api.CanaryResize, Percent: 30}); err != nil || r.Percent != 30 {
		t.Fatalf("resize: %+v %v", r, err)
	}
	rb, err := l.Rollback(ctx, api.ActivateRequest{Target: tg})
	if err != nil || !rb.CanaryAborted || rb.From != "v2" || rb.To != "v1" {
		t.Fatalf("rollback during a canary: %+v %v", rb, err)
	}
	if cur, _ := os.Readlink(filepath.Join(root, "current")); cur != "releases/v1" {
		t.Fatalf("current %s after aborting the canary", cur)
	}
	if _, err := l.Canary(ctx, api.CanaryRequest{Target: tg, Action: api.CanaryStart, ID: "v3", Percent: 50}); err != nil {
		t.Fatal(err)
	}
	p, err := l.Canary(ctx, api.CanaryRequest{Target: tg, Action: api.CanaryPromote})
	if err != nil || p.Release != "v3" || p.From != "v1" || p.Percent != 0 {
		t.Fatalf("promote: %+v %v", p, err)
	}
	if st, _ := l.Status(ctx, tg); st.Canary != nil || st.Current.ID != "v3" {
		t.Fatalf("after promote: canary %+v current %s", st.Canary, st.Current.ID)
	}
}

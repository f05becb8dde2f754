package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/releases"
)

// site writes a small static site with title into a new directory.
func site(t *testing.T, title string) string {
	t.Helper()
	d := t.TempDir()
	os.MkdirAll(filepath.Join(d, "css"), 0o755)
	os.WriteFile(filepath.Join(d, "index.html"), []byte(`<!doctype html><title>`+title+`</title><link rel="stylesheet" href="css/site.css"><a href="#top" id="top">top</a>`), 0o644)
	os.WriteFile(filepath.Join(d, "css", "site.css"), []byte("body{color:#333}/*"+title+"*/"), 0o644)
	return d
}

func newLocal() *Local { return &Local{Via: "test", Sites: map[string]*Site{}} }

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	l := newLocal()
	root := t.TempDir()
	tg := api.Target{Root: root}

	var ids []string
	for _, title := range []string{"one", "two", "three"} {
		r, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: site(t, title), Activate: true})
		if err != nil {
			t.Fatalf("deploy %s: %v", title, err)
		}
		if r.Schema != api.Schema || !r.Activated || r.Report == nil || r.Report.Rejected() {
			t.Fatalf("deploy %s: %+v", title, r)
		}
		ids = append(ids, r.Release.ID)
	}
	if ids[0] != "v1" || ids[2] != "v3" {
		t.Fatalf("ids %v", ids)
	}
	// Stage without activating.
	st, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: site(t, "four"), Activate: false})
	if err != nil || st.Activated || st.Release.ID != "v4" {
		t.Fatalf("stage: %+v %v", st, err)
	}

	rb, err := l.Rollback(ctx, api.ActivateRequest{Target: tg})
	if err != nil || rb.From != "v3" || rb.To != "v2" {
		t.Fatalf("rollback: %+v %v", rb, err)
	}
	act, err := l.Activate(ctx, api.ActivateRequest{Target: tg, ID: "v4"})
	if err != nil || act.From != "v2" || act.To != "v4" {
		t.Fatalf("activate v4: %+v %v", act, err)
	}

	list, err := l.List(ctx, tg)
	if err != nil || list.Current != "v4" || len(list.Releases) != 4 || list.Releases[0].ID != "v4" || !list.Releases[0].Current {
		t.Fatalf("list: %+v %v", list, err)
	}
	status, err := l.Status(ctx, tg)
	if err != nil || status.Current == nil || status.Current.ID != "v4" || status.Lock != nil {
		t.Fatalf("status: %+v %v", status, err)
	}
	hist, err := l.History(ctx, tg, 0)
	if err != nil || len(hist.Events) == 0 || hist.Events[len(hist.Events)-1].Who.Via != "test" {
		t.Fatalf("history: %+v %v", hist, err)
	}
	diff, err := l.Diff(ctx, tg, "v1", "v2")
	if err != nil || len(diff.Changes) == 0 {
		t.Fatalf("diff: %+v %v", diff, err)
	}
	man, err := l.Manifest(ctx, tg, "v1")
	if err != nil || len(man.Files) == 0 || len(man.Assets) == 0 {
		t.Fatalf("manifest: %+v %v", man, err)
	}

	pin, err := l.Pin(ctx, api.PinRequest{Target: tg, ID: "v1", Pin: true})
	if err != nil || !pin.Changed || !pin.Pinned {
		t.Fatalf("pin: %+v %v", pin, err)
	}
	pin, err = l.Pin(ctx, api.PinRequest{Target: tg, ID: "v1", Pin: true})
	if err != nil || pin.Changed {
		t.Fatalf("pin again: %+v %v", pin, err)
	}
	// keep 1: v4 (current) and v2 (previous) and v1 (pinned) stay.
	dry, err := l.Prune(ctx, api.PruneRequest{Target: tg, Keep: 1, DryRun: true})
	if err != nil || len(dry.Pruned) != 1 || dry.Pruned[0] != "v3" {
		t.Fatalf("prune --dry-run: %+v %v", dry, err)
	}
	if _, err := os.Stat(filepath.Join(root, "releases", "v3")); err != nil {
		t.Fatalf("dry run removed v3: %v", err)
	}
	pr, err := l.Prune(ctx, api.PruneRequest{Target: tg, Keep: 1})
	if err != nil || len(pr.Pruned) != 1 || pr.Pruned[0] != "v3" {
		t.Fatalf("prune: %+v %v", pr, err)
	}
	if _, err := os.Stat(filepath.Join(root, "releases", "v3")); !os.IsNotExist(err) {
		t.Fatalf("v3 still there after prune: %v", err)
	}

	// Validate a directory and a release against the live one.
	v, err := l.Validate(ctx, api.ValidateRequest{Target: tg, Path: site(t, "five")})
	if err != nil || v.Rejected || v.Report == nil || v.Schema != api.Schema {
		t.Fatalf("validate dir: %+v %v", v, err)
	}
	v, err = l.Validate(ctx, api.ValidateRequest{Target: tg, Path: "v4"})
	if err != nil || v.Rejected {
		t.Fatalf("validate v4: %+v %v", v, err)
	}
}

func TestRejected(t *testing.T) {
	ctx := context.Background()
	l := newLocal()
	root := t.TempDir()
	tg := api.Target{Root: root}
	// A site's first release is its own baseline: only new breakage
	// blocks, so the good release goes first.
	if _, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: site(t, "good"), Activate: true}); err != nil {
		t.Fatal(err)
	}
	bad := site(t, "bad")
	os.WriteFile(filepath.Join(bad, "index.html"), []byte(`<!doctype html><title>bad</title><img src="missing.png">`), 0o644)
	_, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: bad, Activate: true})
	if err == nil {
		t.Fatal("deploy of a broken site succeeded")
	}
	e := api.ErrorOf(err)
	if !errors.Is(err, api.ErrRejected) || e.Exit != api.ExitRejected || e.Code != "rejected" || e.Report == nil || !e.Report.Rejected() {
		t.Fatalf("deploy of a broken site: %v (%+v)", err, e)
	}
	if l, _ := os.Readlink(filepath.Join(root, "current")); l != "releases/v1" {
		t.Fatalf("current -> %q after a rejected deploy", l)
	}
	v, err := l.Validate(ctx, api.ValidateRequest{Target: tg, Path: bad})
	if err != nil || !v.Rejected || v.Report == nil {
		t.Fatalf("validate broken dir against the live release: %+v %v", v, err)
	}
}

// TestErrors: a bad id is a usage error whatever the root (checked before
// the store is opened), a missing release or site is not_found.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	l := newLocal()
	root := t.TempDir()
	tg := api.Target{Root: root}
	missing := api.Target{Root: filepath.Join(t.TempDir(), "no", "such", "root")}
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"activate bad id", err1(l.Activate(ctx, api.ActivateRequest{Target: missing, ID: "x1"})), "usage"},
		{"activate no id", err1(l.Activate(ctx, api.ActivateRequest{Target: tg})), "usage"},
		{"rollback bad --to", err1(l.Rollback(ctx, api.ActivateRequest{Target: missing, ID: "1"})), "usage"},
		{"diff bad id", err1(l.Diff(ctx, missing, "v1", "two")), "usage"},
		{"manifest bad id", err1(l.Manifest(ctx, missing, "latest")), "usage"},
		{"pin bad id", err1(l.Pin(ctx, api.PinRequest{Target: missing, ID: "v"})), "usage"},
		{"prune negative keep", err1(l.Prune(ctx, api.PruneRequest{Target: tg, Keep: -1})), "usage"},
		{"deploy no source", err1(l.Deploy(ctx, api.DeployRequest{Target: tg})), "usage"},
		{"root and site", err1(l.List(ctx, api.Target{Root: root, Site: "www"})), "usage"},
		{"no target", err1(l.List(ctx, api.Target{})), "usage"},
		{"unknown site", err1(l.List(ctx, api.Target{Site: "www"})), "not_found"},
		{"activate missing release", err1(l.Activate(ctx, api.ActivateRequest{Target: tg, ID: "v9"})), "not_found"},
		{"rollback with nothing before", err1(l.Rollback(ctx, api.ActivateRequest{Target: tg})), "not_found"},
		{"validate missing dir", err1(l.Validate(ctx, api.ValidateRequest{Path: filepath.Join(root, "nope")})), "not_found"},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		e := api.ErrorOf(tc.err)
		if e.Code != tc.code {
			t.Errorf("%s: %v: code %q, want %q", tc.name, tc.err, e.Code, tc.code)
		}
		if tc.code == "usage" && e.Exit != api.ExitUsage || tc.code != "usage" && e.Exit != api.ExitFailed {
			t.Errorf("%s: exit %d", tc.name, e.Exit)
		}
	}
	// The bad-id checks did not create the missing root.
	if _, err := os.Stat(missing.Root); !os.IsNotExist(err) {
		t.Errorf("a usage error created %s: %v", missing.Root, err)
	}
}

func err1[T any](_ T, err error) error { return err }

// TestLocked: a writer holding the lock makes a switch fail with
// locked at once, or wait (--wait) and report the holder to the context's
// WithWaiting callback.
func TestLocked(t *testing.T) {
	ctx := context.Background()
	l := newLocal()
	root := t.TempDir()
	tg := api.Target{Root: root}
	if _, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: site(t, "one"), Activate: true}); err != nil {
		t.Fatal(err)
	}
	other, err := releases.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	lk, _, err := other.Lock(ctx, 0, releases.Who{User: "someone"}, "holding")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	_, err = l.Activate(ctx, api.ActivateRequest{Target: tg, ID: "v1"})
	if e := api.ErrorOf(err); e.Code != "locked" || e.Exit != api.ExitFailed {
		t.Fatalf("activate under another writer's lock: %v (%+v)", err, e)
	}
	cctx, cancel := context.WithCancel(ctx)
	var holder *releases.Holder
	wctx := releases.WithWaiting(cctx, func(h *releases.Holder) { holder = h; cancel() })
	_, err = l.Activate(wctx, api.ActivateRequest{Target: tg, ID: "v1", Wait: 30e9})
	if !errors.Is(err, context.Canceled) || holder == nil || holder.Op != "holding" {
		t.Fatalf("waiting activate: %v, holder %+v", err, holder)
	}
}

// TestSourceInsideRootRefused: deploying the store (or a part of it, or a
// directory holding it) would copy it into its own staging: refused,
// nothing staged.
func TestSourceInsideRootRefused(t *testing.T) {
	ctx := context.Background()
	l := newLocal()
	parent := t.TempDir()
	root := filepath.Join(parent, "www")
	os.Mkdir(root, 0o755)
	tg := api.Target{Root: root}
	if _, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: site(t, "one"), Activate: true}); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(t.TempDir(), "alias")
	os.Symlink(root, alias)
	for _, src := range []string{root, root + "/", filepath.Join(root, "state"), filepath.Join(root, "releases"),
		filepath.Join(root, "current"), filepath.Join(alias, "state"), parent} {
		_, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: src, Activate: true})
		if !errors.Is(err, api.ErrUsage) || !strings.Contains(err.Error(), "refusing (it would copy the store into itself)") {
			t.Errorf("source %s: %v", src, err)
		}
	}
	// Through a symlinked root too.
	if _, err := l.Deploy(ctx, api.DeployRequest{Target: api.Target{Root: alias}, Source: filepath.Join(root, "releases"), Activate: true}); !errors.Is(err, api.ErrUsage) {
		t.Errorf("source inside a root given by a symlink: %v", err)
	}
	recs, _ := os.ReadDir(filepath.Join(root, "state", "records"))
	if len(recs) != 1 {
		t.Errorf("refused deploys left records: %v", recs)
	}
	// A sibling whose name starts like the root is not inside it.
	sib := filepath.Join(parent, "www2")
	os.Rename(site(t, "two"), sib)
	if _, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: sib, Activate: true}); err != nil {
		t.Errorf("sibling source: %v", err)
	}
}

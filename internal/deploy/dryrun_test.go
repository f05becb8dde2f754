package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/releases"
)

// storeState is what a deploy that makes nothing must leave as it was.
type storeState struct {
	current, next string
	records       []string
	journal       string
}

func stateOf(t *testing.T, s *releases.Store) storeState {
	t.Helper()
	cur, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	next, _ := os.ReadFile(filepath.Join(s.StateDir(), "next-id"))
	journal, _ := os.ReadFile(filepath.Join(s.StateDir(), "journal"))
	var recs []string
	ents, _ := os.ReadDir(filepath.Join(s.StateDir(), "records"))
	for _, e := range ents {
		recs = append(recs, e.Name())
	}
	return storeState{cur, string(next), recs, string(journal)}
}

func checkUnchanged(t *testing.T, s *releases.Store, before storeState, what string) {
	t.Helper()
	if after := stateOf(t, s); !slices.Equal(after.records, before.records) || after.current != before.current ||
		after.next != before.next || after.journal != before.journal {
		t.Errorf("%s changed the store:\nbefore %+v\nafter  %+v", what, before, after)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.StateDir(), "staging")); len(ents) != 0 {
		t.Errorf("%s left %d staging entries", what, len(ents))
	}
	if err := storecheck.Check(s.Root, storecheck.Options{AfterRecovery: true}); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// TestDryRun: a dry run stages, hashes and validates, reports the changes
// against live, and leaves the store exactly as it was: no id used, no
// record, no journal line; the next real deploy gets the id it would
// have had.
func TestDryRun(t *testing.T) {
	s := newStore(t)
	deployTree(t, s, site, hashing(), validating()) // v1
	before := stateOf(t, s)
	next := site.with(tree{"new.html": `<!doctype html><title>new</title>`, "faq.html": "", "js/app.js": `console.log("app v2");`})
	res, err := Deploy(t.Context(), s, Request{Source: dirSource(next)(t), Activate: true, DryRun: true,
		Stages: []Stage{hashing(), validating()}})
	if err != nil || res.Record != nil || !res.DryRun || res.Report == nil || res.Hashes == nil {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	ops := map[string]string{}
	for _, c := range res.Changes {
		ops[c.Path] = c.Op
	}
	if ops["new.html"] != "added" || ops["faq.html"] != "removed" || ops["index.html"] != "changed" || ops["about.html"] != "" {
		t.Errorf("changes %+v: want new.html added, faq.html removed, index.html changed (new app.js hash), about.html untouched", res.Changes)
	}
	checkUnchanged(t, s, before, "dry run")

	// Rejected in a dry run: the report, and still nothing recorded.
	_, err = Deploy(t.Context(), s, Request{Source: dirSource(broken)(t), Activate: true, DryRun: true,
		Stages: []Stage{hashing(), validating()}})
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Report == nil || rej.Report.Blocking != 1 {
		t.Fatalf("rejected dry run: %v", err)
	}
	checkUnchanged(t, s, before, "rejected dry run")

	// A failing dry run (a missing stage input) records nothing either.
	if _, err := Deploy(t.Context(), s, Request{Source: tarGzSource(site, 100)(t), DryRun: true}); err == nil {
		t.Fatal("truncated archive: dry run succeeded")
	}
	checkUnchanged(t, s, before, "failed dry run")

	// The next real deploy gets v2.
	if res := deployTree(t, s, next, hashing(), validating()); res.Record.ID != "v2" {
		t.Errorf("after dry runs the next deploy is %s, want v2", res.Record.ID)
	}
}

// TestAlreadyLive: an artifact whose content equals the live release's
// (after hashing: same hashed names, same rewritten pages) makes no
// release and uses no id; Force makes one; a dry run says so too.
func TestAlreadyLive(t *testing.T) {
	s := newStore(t)
	deployTree(t, s, site, hashing(), validating())                            // v1
	deployTree(t, s, site.with(tree{"faq.html": ""}), hashing(), validating()) // v2
	deployTree(t, s, site, hashing(), validating())                            // v3: carries v2's and v1's assets
	before := stateOf(t, s)
	for _, src := range []func(*testing.T) string{dirSource(site), tarGzSource(site, 0)} {
		res, err := Deploy(t.Context(), s, Request{Source: src(t), Activate: true, Stages: []Stage{hashing(), validating()},
			BeforeSwitch: CarryOnSwitch(t.Context(), s)})
		if err != nil || res.Record != nil || res.AlreadyLive != "v3" || res.Activated {
			t.Fatalf("same content: %+v, %v; want already live v3", res, err)
		}
		checkUnchanged(t, s, before, "already live")
	}
	res, err := Deploy(t.Context(), s, Request{Source: dirSource(site)(t), DryRun: true, Stages: []Stage{hashing(), validating()}})
	if err != nil || !res.DryRun || res.AlreadyLive != "v3" || len(res.Changes) != 0 {
		t.Fatalf("dry run of the same content: %+v, %v", res, err)
	}
	checkUnchanged(t, s, before, "dry run of the live content")

	// One byte differs: a release.
	if res := deployTree(t, s, site.with(tree{"about.html": site["about.html"] + " "}), hashing(), validating()); res.Record == nil || res.AlreadyLive != "" {
		t.Fatalf("changed content: %+v", res)
	}
	// Force: a release with the same content.
	res, err = Deploy(t.Context(), s, Request{Source: dirSource(site)(t), Activate: true, Stages: []Stage{hashing(), validating()}})
	if err != nil || res.Record == nil || res.AlreadyLive != "" {
		t.Fatalf("without force after a change: %+v, %v", res, err)
	}
	res, err = Deploy(t.Context(), s, Request{Source: dirSource(site)(t), Activate: true, Force: true, Stages: []Stage{hashing(), validating()}})
	if err != nil || res.Record == nil || res.Record.ID != "v6" || !res.Activated {
		t.Fatalf("--force: %+v, %v; want v6 live", res, err)
	}
	m5, _ := s.Manifest("v5")
	m6, _ := s.Manifest("v6")
	if d := manifest.Diff(m5, m6); len(d) != 0 {
		t.Errorf("forced release differs from the one it repeats: %v", d)
	}
	if err := storecheck.Check(s.Root, storecheck.Options{}); err != nil {
		t.Error(err)
	}
}

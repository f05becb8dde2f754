package releases

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// cohortServes returns the release a client of bucket i is served: the cohort
// link resolved as the web server resolves it ($realpath_root).
func cohortServes(t *testing.T, s *Store, i int) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(s.cohortPath(i))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(p)
}

func cohortShare(t *testing.T, s *Store, id string) int {
	t.Helper()
	n := 0
	for i := 0; i < Cohorts; i++ {
		if cohortServes(t, s, i) == id {
			n++
		}
	}
	return n
}

func TestCanaryLifecycle(t *testing.T) {
	s := openStore(t)
	lock(t, s)
	v1 := stageFiles(t, s, map[string]string{"index.html": "one", "app.0123456789.js": "1"})
	if _, err := s.Activate(v1, ActivateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The first switch made canary (= current) and the 100 cohort links.
	if ci, err := s.CanaryState(); err != nil || ci.Release != "" || !ci.Cohorts || ci.Percent != 0 || ci.Stable != v1 {
		t.Fatalf("after the first activation: %+v %v", ci, err)
	}
	if got := cohortShare(t, s, v1); got != Cohorts {
		t.Fatalf("%d of 100 cohorts serve %s", got, v1)
	}
	v2 := stageFiles(t, s, map[string]string{"index.html": "two"})
	var carried [][2]string
	hook := func(from, to string) error { carried = append(carried, [2]string{from, to}); return nil }
	if err := s.StartCanary(v2, 10, ActivateOptions{Who: testWho, Before: hook}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(carried, [][2]string{{v2, v1}, {v1, v2}}) {
		t.Errorf("carry-over hook calls %v, want both ways", carried)
	}
	if ci, _ := s.CanaryState(); ci.Release != v2 || ci.Percent != 10 || ci.Stable != v1 {
		t.Fatalf("canary state %+v", ci)
	}
	if cohortShare(t, s, v2) != 10 || current(t, s) != v1 {
		t.Fatalf("canary serves %d cohorts, current %s", cohortShare(t, s, v2), current(t, s))
	}
	if err := s.StartCanary(v2, 20, ActivateOptions{}); !errors.Is(err, ErrCanaryRunning) {
		t.Fatalf("a second canary: %v", err)
	}
	// Growing keeps the first 10 buckets in the canary.
	if err := s.SetCanaryPercent(25, testWho); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		if cohortServes(t, s, i) != v2 {
			t.Fatalf("bucket %02d left the canary when it grew", i)
		}
	}
	// A canary's release is never pruned.
	if _, pruned, _ := s.PrunePlanWith(PruneOptions{Keep: 1}); slices.Contains(pruned, v2) {
		t.Fatal("prune would remove the running canary")
	}
	from, to, err := s.PromoteCanary(ActivateOptions{Who: testWho})
	if err != nil || from != v1 || to != v2 {
		t.Fatalf("promote: %s→%s %v", from, to, err)
	}
	if ci, _ := s.CanaryState(); ci.Release != "" || ci.Percent != 0 || current(t, s) != v2 || cohortShare(t, s, v2) != Cohorts {
		t.Fatalf("after promote: %+v current %s", ci, current(t, s))
	}
	if _, err := s.AbortCanary(ActivateOptions{}); !errors.Is(err, ErrNoCanary) {
		t.Fatalf("abort without a canary: %v", err)
	}

	// Abort: everyone back on the stable release, the canary marked bad.
	v3 := stageFiles(t, s, map[string]string{"index.html": "three"})
	if err := s.StartCanary(v3, 10, ActivateOptions{}); err != nil {
		t.Fatal(err)
	}
	if id, err := s.AbortCanary(ActivateOptions{Who: testWho, Reason: "watch: 9%"}); err != nil || id != v3 {
		t.Fatal(id, err)
	}
	if cohortShare(t, s, v2) != Cohorts {
		t.Fatal("abort left clients on the canary")
	}
	if r, _ := s.Record(v3); r.Bad == "" {
		t.Error("an aborted canary is not marked bad")
	}
	// A rollback while a canary runs ends it.
	v4 := stageFiles(t, s, map[string]string{"index.html": "four"})
	if err := s.StartCanary(v4, 50, ActivateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rollback("", ActivateOptions{Who: testWho}); err != nil {
		t.Fatal(err)
	}
	if ci, _ := s.CanaryState(); ci.Release != "" || cohortShare(t, s, v1) != Cohorts {
		t.Fatalf("after a rollback during a canary: %+v", ci)
	}
	evs, _, err := s.Journal(0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		if e.Event != EvStaged {
			kinds = append(kinds, e.Event)
		}
	}
	want := []string{EvActivated, EvCanaryStarted, EvCanaryResized, EvActivated, EvCanaryStarted, EvCanaryAborted, EvCanaryStarted, EvRolledBack, EvCanaryAborted}
	if !slices.Equal(kinds, want) {
		t.Errorf("journal %v\nwant    %v", kinds, want)
	}
	if ps, err := s.Fsck(context.Background(), FsckOptions{}); err != nil || len(ps) != 0 {
		t.Fatalf("fsck: %+v %v", ps, err)
	}
	// fsck notices a cohort link made by hand.
	os.Remove(s.cohortPath(7))
	os.Symlink("/etc", s.cohortPath(7))
	if ps, _ := s.Fsck(context.Background(), FsckOptions{}); len(ps) != 1 || ps[0].Kind != "canary" {
		t.Fatalf("fsck of a bad cohort link: %+v", ps)
	}
}

func TestCanaryRefusals(t *testing.T) {
	s := openStore(t)
	lock(t, s)
	v1 := stageFiles(t, s, map[string]string{"a": "1"})
	if err := s.StartCanary(v1, 10, ActivateOptions{}); !errors.Is(err, ErrNoRelease) {
		t.Fatalf("a canary with nothing live: %v", err)
	}
	s.Activate(v1, ActivateOptions{})
	v2 := stageFiles(t, s, map[string]string{"a": "2"})
	for _, p := range []int{0, 100, -5} {
		if err := s.StartCanary(v2, p, ActivateOptions{}); err == nil {
			t.Errorf("%d%% accepted", p)
		}
	}
	if err := s.StartCanary(v1, 10, ActivateOptions{}); err == nil {
		t.Error("the current release accepted as a canary")
	}
	if err := s.StartCanary(v2, 10, ActivateOptions{Before: func(string, string) error { return errors.New("disk full") }}); err == nil {
		t.Fatal("a failed carry-over started the canary")
	}
	if ci, _ := s.CanaryState(); ci.Release != "" || cohortShare(t, s, v1) != Cohorts {
		t.Fatalf("a refused canary changed links: %+v", ci)
	}
}

func TestPruneOlderThan(t *testing.T) {
	s := openStore(t)
	lock(t, s)
	var ids []string
	for i := range 5 {
		id := stageFiles(t, s, map[string]string{"a": string(rune('a' + i))})
		ids = append(ids, id)
		if _, err := s.Activate(id, ActivateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	left, err := s.LeftCurrent()
	if err != nil || len(left) != 4 {
		t.Fatalf("left current: %v %v", left, err)
	}
	// v1..v3 left current just now: 1h after, all are older than 30m.
	later := left["v1"].Add(time.Hour)
	_, pruned, err := s.PrunePlanWith(PruneOptions{OlderThan: 30 * time.Minute, Now: later})
	if err != nil || !slices.Equal(pruned, []string{"v3", "v2", "v1"}) {
		t.Fatalf("older than 30m, an hour later: %v %v", pruned, err)
	}
	// Within keep_for, nothing beyond current and previous goes.
	if _, pruned, _ := s.PrunePlanWith(PruneOptions{Keep: 1, OlderThan: 30 * time.Minute, Now: left["v1"].Add(time.Minute)}); len(pruned) != 0 {
		t.Fatalf("pruned %v within keep_for", pruned)
	}
	// keep and age together: beyond the 3 newest and older.
	if _, pruned, _ := s.PrunePlanWith(PruneOptions{Keep: 3, OlderThan: 30 * time.Minute, Now: later}); !slices.Equal(pruned, []string{"v2", "v1"}) {
		t.Fatalf("keep 3 and older than 30m: %v", pruned)
	}
	if _, _, err := s.PrunePlanWith(PruneOptions{}); err == nil {
		t.Fatal("keep 0 without older-than accepted")
	}
	got, err := s.PruneWith(PruneOptions{OlderThan: 30 * time.Minute, Now: later}, testWho)
	if err != nil || len(got) != 3 {
		t.Fatal(got, err)
	}
	evs, _, _ := s.Journal(1)
	if evs[0].Event != EvPruned || evs[0].Detail != "older than 30m0s" {
		t.Errorf("last journal line %+v", evs[0])
	}
}

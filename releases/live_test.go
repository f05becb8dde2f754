package releases

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// storeWith returns a locked store with n releases, v1..vn, each
// activated in turn (vn is current).
func storeWith(t *testing.T, n int) (*Store, *Lock) {
	t.Helper()
	s := openStore(t)
	l := lock(t, s)
	for i := range n {
		id := stageFiles(t, s, map[string]string{"index.html": strings.Repeat("x", i+1)})
		if _, err := s.Activate(id, ActivateOptions{Who: testWho}); err != nil {
			t.Fatal(err)
		}
	}
	return s, l
}

type fileState struct {
	mod  time.Time
	body string
}

func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		b, _ := os.ReadFile(p)
		out[e.Name()] = fileState{fi.ModTime(), string(b)}
	}
	return out
}

// TestSwitchWritesLinkAndJournalOnly: a rollback changes current and
// appends one journal line; records and the checkpoint stay as they were,
// and the activation time and the bad mark are there all the same.
func TestSwitchWritesLinkAndJournalOnly(t *testing.T) {
	s, _ := storeWith(t, 3)
	s.writeCheckpoint(mustLive(t, s)) // so that no checkpoint is due
	records, state := snapshot(t, s.state(recordsDir)), snapshot(t, s.StateDir())
	before := time.Now().UTC().Add(-time.Second)
	from, to, err := s.Rollback("", ActivateOptions{Who: testWho, Reason: "broken CSS"})
	if err != nil || from != "v3" || to != "v2" {
		t.Fatalf("rollback: %s -> %s, %v", from, to, err)
	}
	if got := snapshot(t, s.state(recordsDir)); !reflect.DeepEqual(got, records) {
		t.Errorf("records were rewritten")
	}
	after := snapshot(t, s.StateDir())
	for name, fs := range state {
		if name != journalName && after[name] != fs && name != "lock" {
			t.Errorf("state/%s was rewritten", name)
		}
	}
	if n := strings.Count(after[journalName].body, "\n") - strings.Count(state[journalName].body, "\n"); n != 1 {
		t.Errorf("%d journal lines appended, want 1", n)
	}
	r3, _ := s.Record("v3")
	if !strings.HasPrefix(r3.Bad, "broken CSS at ") {
		t.Errorf("v3 bad mark %q", r3.Bad)
	}
	r2, _ := s.Record("v2")
	if r2.Activated == nil || r2.Activated.Before(before) || r2.Bad != "" {
		t.Errorf("v2 after the rollback: activated %v, bad %q", r2.Activated, r2.Bad)
	}
	if p, _ := s.Previous(); p != "v1" {
		t.Errorf("previous is %q, want v1 (v3 is bad)", p)
	}
}

func mustLive(t *testing.T, s *Store) *liveState {
	t.Helper()
	ls, err := s.loadLive(nil)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// derived returns the live state as readers see it, and as the journal
// alone gives it (the checkpoint lost, as a power loss may do).
func derived(t *testing.T, s *Store) (withCheckpoint, fromJournal *liveState) {
	t.Helper()
	withCheckpoint = mustLive(t, s)
	p := s.state(liveName)
	b, err := os.ReadFile(p)
	if err == nil {
		os.Remove(p)
		defer os.WriteFile(p, b, 0o644)
	}
	return withCheckpoint, mustLive(t, s)
}

// TestCheckpointIsJustACache: whatever sequence of switches, pins and
// prunes, the live state read through the checkpoint equals the one the
// journal alone gives, and so do Previous and the records' marks.
func TestCheckpointIsJustACache(t *testing.T) {
	s, _ := storeWith(t, 6)
	rng := rand.New(rand.NewPCG(1, 2))
	checkpoints := 0
	for i := range 300 {
		switch k := rng.IntN(10); {
		case k < 5:
			s.Rollback("", ActivateOptions{Who: testWho})
		case k < 8:
			s.Activate(FormatID(int64(1+rng.IntN(6))), ActivateOptions{Who: testWho})
		case k < 9:
			s.SetPinned(FormatID(int64(1+rng.IntN(6))), rng.IntN(2) == 0, testWho)
		default:
			if i > 250 {
				s.Prune(3, testWho)
			}
		}
		a, b := derived(t, s)
		if !slices.Equal(a.History, b.History) || !reflect.DeepEqual(a.Bad, b.Bad) || !equalTimes(a.Activated, b.Activated) {
			t.Fatalf("step %d: checkpoint+tail %+v\njournal alone %+v", i, a, b)
		}
		if a.tail > checkpointLines+2 {
			t.Fatalf("step %d: %d journal lines after the checkpoint", i, a.tail)
		}
		if a.Offset > 0 {
			checkpoints++
		}
	}
	if checkpoints == 0 {
		t.Fatal("no checkpoint was ever written")
	}
}

func equalTimes(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !v.Equal(w) {
			return false
		}
	}
	return true
}

// TestBadMarkNeedsOnlyTheJournal: after a rollback, even if everything
// but the journal and the symlink is lost (checkpoint and records as they
// were before it), a second rollback does not go back to the release the
// first one left.
func TestBadMarkNeedsOnlyTheJournal(t *testing.T) {
	s, _ := storeWith(t, 3)
	s.writeCheckpoint(mustLive(t, s))
	live, _ := os.ReadFile(s.state(liveName))
	if _, to, err := s.Rollback("", ActivateOptions{Who: testWho}); err != nil || to != "v2" {
		t.Fatal(to, err)
	}
	os.WriteFile(s.state(liveName), live, 0o644) // the checkpoint of before
	if _, to, err := s.Rollback("", ActivateOptions{Who: testWho}); err != nil || to != "v1" {
		t.Fatalf("second rollback went to %s (%v), want v1", to, err)
	}
	os.Remove(s.state(liveName))
	if _, _, err := s.Rollback("", ActivateOptions{Who: testWho}); err == nil {
		t.Fatalf("third rollback found a release that is not bad: %v", mustLive(t, s).Bad)
	}
}

// TestOldFormStore: a store written before the live state was derived
// (live.json without a version, bad marks and activation times in the
// records) reads the same, and the first writer migrates it.
func TestOldFormStore(t *testing.T) {
	s, l := storeWith(t, 3)
	// Make it look like the old version left it: v3 was rolled back from
	// (bad, in its record), v2 is current, v1 activated long ago.
	old := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for id, bad := range map[string]string{"v1": "", "v2": "", "v3": "rolled back at 2024-05-02T00:00:00Z"} {
		r, _ := s.record(id, nil)
		r.Bad, r.Activated = bad, &old
		if err := writeJSONAtomic(s.recordPath(id), r); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(s.state(liveName), []byte(`{"history": ["v1", "v2", "v3", "v2"]}`), 0o644)
	if _, err := os.Lstat(s.CurrentPath()); err == nil {
		os.Remove(s.CurrentPath())
	}
	os.Symlink("releases/v2", s.CurrentPath())
	l.abandon()
	os.WriteFile(s.state("lock"), nil, 0o644) // an old holder's clean exit
	check := func(when string) {
		t.Helper()
		recs, err := s.Records()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Activated == nil || !r.Activated.Equal(old) || (r.Bad != "") != (r.ID == "v3") {
				t.Errorf("%s: %s activated %v bad %q", when, r.ID, r.Activated, r.Bad)
			}
		}
		if p, _ := s.Previous(); p != "v1" {
			t.Errorf("%s: previous %q, want v1", when, p)
		}
	}
	check("old form")
	l2, _, err := s.Lock(context.Background(), 0, testWho, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Unlock()
	var ls liveState
	b, _ := os.ReadFile(s.state(liveName))
	if json.Unmarshal(b, &ls) != nil || ls.Version != liveVersion || ls.Offset == 0 {
		t.Fatalf("not migrated: %s", b)
	}
	check("migrated")
	if _, to, err := s.Rollback("", ActivateOptions{Who: testWho}); err != nil || to != "v1" {
		t.Fatalf("rollback: %s %v", to, err)
	}
	if r, _ := s.Record("v2"); r.Bad == "" {
		t.Error("v2 not bad after rolling back from it")
	}
	if _, err := s.Activate("v3", ActivateOptions{Who: testWho}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Record("v3"); r.Bad != "" || r.Activated.Equal(old) {
		t.Errorf("v3 after activate: bad %q activated %v", r.Bad, r.Activated)
	}
}

// TestTornJournalLine: a line torn by a power loss does not swallow the
// next one.
func TestTornJournalLine(t *testing.T) {
	s, _ := storeWith(t, 2)
	f, _ := os.OpenFile(s.state(journalName), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2025-01-01T00:00:00Z","event":"activ`)
	f.Close()
	if _, to, err := s.Rollback("", ActivateOptions{Who: testWho}); err != nil || to != "v1" {
		t.Fatal(to, err)
	}
	evs, bad, err := s.Journal(0)
	if err != nil || bad != 1 || evs[len(evs)-1].Event != EvRolledBack {
		t.Fatalf("journal: %d unreadable, last %+v, %v", bad, evs[len(evs)-1], err)
	}
	if r, _ := s.Record("v2"); r.Bad == "" {
		t.Error("v2 not bad")
	}
}

// TestRecoveryOnlyAfterUncleanExit: a holder that unlocks leaves the
// clean marker and the next writer does not scan; one that dies (or a
// marker from another boot) makes the next writer recover.
func TestRecoveryOnlyAfterUncleanExit(t *testing.T) {
	s, l := storeWith(t, 1)
	l.Unlock()
	if b, _ := os.ReadFile(s.state("lock")); string(b) != cleanMarker() || !strings.HasPrefix(string(b), "clean ") {
		t.Fatalf("lock file after unlock: %q", b)
	}
	os.Mkdir(s.state(stagingDir, "v7"), 0o755)
	l, cleaned, err := s.Lock(context.Background(), 0, testWho, "test")
	if err != nil || len(cleaned) != 0 {
		t.Fatalf("after a clean exit: cleaned %q, %v", cleaned, err)
	}
	l.abandon()
	l, cleaned, err = s.Lock(context.Background(), 0, testWho, "test")
	if err != nil || len(cleaned) != 1 || !strings.Contains(cleaned[0], "staging tree v7") {
		t.Fatalf("after a killed holder: cleaned %q, %v", cleaned, err)
	}
	l.Unlock()
	os.Mkdir(s.state(stagingDir, "v8"), 0o755)
	os.WriteFile(s.state("lock"), []byte("clean 00000000-0000-0000-0000-000000000000\n"), 0o644)
	l, cleaned, err = s.Lock(context.Background(), 0, testWho, "test")
	if err != nil || len(cleaned) != 1 {
		t.Fatalf("after another boot: cleaned %q, %v", cleaned, err)
	}
	l.Unlock()
}

// TestCheckpointDamageAndJournalReplaced: a checkpoint that does not parse
// is ignored (the journal gives the state), and a journal shorter than the
// checkpoint's offset (replaced by hand) is read after the checkpoint.
func TestCheckpointDamageAndJournalReplaced(t *testing.T) {
	s, _ := storeWith(t, 3)
	s.Rollback("", ActivateOptions{Who: testWho}) // v3 bad, v2 current
	want := mustLive(t, s)
	os.WriteFile(s.state(liveName), []byte("{\"version\": 2, \"hist"), 0o644)
	if got := mustLive(t, s); !slices.Equal(got.History, want.History) || !reflect.DeepEqual(got.Bad, want.Bad) {
		t.Fatalf("damaged checkpoint: %+v, want %+v", got, want)
	}
	if err := s.writeCheckpoint(want); err != nil {
		t.Fatal(err)
	}
	os.Rename(s.state(journalName), s.state(journalName)+".old")
	if _, to, err := s.Rollback("", ActivateOptions{Who: testWho}); err != nil || to != "v1" {
		t.Fatalf("rollback with a new journal: %s %v", to, err)
	}
	got := mustLive(t, s)
	if !slices.Equal(got.History, []string{"v3", "v2", "v1"}) || got.Bad["v3"] == "" || got.Bad["v2"] == "" {
		t.Fatalf("after a new journal: %+v", got)
	}
}

// TestRollbackOrderKeepsEachReleaseOnce: swapping two releases back and
// forth does not grow the checkpoint, and pruned releases leave it.
func TestRollbackOrderKeepsEachReleaseOnce(t *testing.T) {
	s, _ := storeWith(t, 4)
	for range 50 {
		s.Activate("v3", ActivateOptions{Who: testWho})
		s.Activate("v4", ActivateOptions{Who: testWho})
	}
	if h := mustLive(t, s).History; !slices.Equal(h, []string{"v1", "v2", "v3", "v4"}) {
		t.Fatalf("history %v", h)
	}
	if p, _ := s.Previous(); p != "v3" {
		t.Fatalf("previous %s", p)
	}
	if _, err := s.Prune(2, testWho); err != nil {
		t.Fatal(err)
	}
	if h := mustLive(t, s).History; !slices.Equal(h, []string{"v3", "v4"}) {
		t.Fatalf("history after pruning v1 v2: %v", h)
	}
}

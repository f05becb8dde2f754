package releases

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/manifest"
)

var testWho = Who{UID: 1000, User: "tester", Via: "test"}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lock(t *testing.T, s *Store) *Lock {
	t.Helper()
	l, _, err := s.Lock(context.Background(), 0, testWho, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Unlock)
	return l
}

// stageFiles makes a release from a map of files and returns its id.
func stageFiles(t *testing.T, s *Store, files map[string]string) string {
	t.Helper()
	st, err := s.NewStaging()
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(st.Dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	m, err := manifest.FromFS(os.DirFS(st.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(Record{Who: testWho, Source: SourceInfo{Spec: "test"}}, m); err != nil {
		t.Fatal(err)
	}
	return st.ID
}

func current(t *testing.T, s *Store) string {
	t.Helper()
	c, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestActivateRollbackChain(t *testing.T) {
	s := openStore(t)
	lock(t, s)
	var ids []string
	for i := range 3 {
		id := stageFiles(t, s, map[string]string{"index.html": strings.Repeat("x", i+1)})
		if _, err := s.Activate(id, ActivateOptions{Who: testWho}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if !slices.Equal(ids, []string{"v1", "v2", "v3"}) || current(t, s) != "v3" {
		t.Fatalf("ids %v current %s", ids, current(t, s))
	}
	// The link is relative and resolves to the tree.
	if l, _ := os.Readlink(s.CurrentPath()); l != "releases/v3" {
		t.Fatalf("current -> %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(s.CurrentPath(), "index.html")); string(b) != "xxx" {
		t.Fatalf("served %q", b)
	}
	// rollback goes v3 -> v2 -> v1, never back to a release it left.
	for _, want := range []string{"v2", "v1"} {
		from, to, err := s.Rollback("", ActivateOptions{Who: testWho})
		if err != nil || to != want || current(t, s) != want {
			t.Fatalf("rollback: from %s to %s err %v, current %s; want %s", from, to, err, current(t, s), want)
		}
		if r, _ := s.Record(from); r.Bad == "" {
			t.Errorf("%s not marked bad after rolling back from it", from)
		}
	}
	if _, _, err := s.Rollback("", ActivateOptions{Who: testWho}); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("third rollback: %v, want ErrNoPrevious", err)
	}
	// Explicit activation of a bad release clears the mark; --to works.
	if _, err := s.Activate("v3", ActivateOptions{Who: testWho}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Record("v3"); r.Bad != "" {
		t.Errorf("v3 still bad after explicit activate")
	}
	if _, to, err := s.Rollback("v2", ActivateOptions{Who: testWho}); err != nil || to != "v2" {
		t.Fatalf("rollback --to v2: %s %v", to, err)
	}
	evs, bad, err := s.Journal(0)
	if err != nil || bad != 0 {
		t.Fatal(err, bad)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Event+":"+e.Release)
	}
	want := "staged:v1 activated:v1 staged:v2 activated:v2 staged:v3 activated:v3 rolled-back:v2 rolled-back:v1 activated:v3 rolled-back:v2"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("journal:\n got %s\nwant %s", strings.Join(kinds, " "), want)
	}
	if evs[len(evs)-1].Who.User != "tester" || evs[len(evs)-1].From != "v3" {
		t.Fatalf("last event %+v", evs[len(evs)-1])
	}
}

func TestIDsNeverReused(t *testing.T) {
	s := openStore(t)
	lock(t, s)
	for range 3 {
		id := stageFiles(t, s, map[string]string{"a": "1"})
		s.Activate(id, ActivateOptions{})
	}
	if p, err := s.Prune(1, testWho); err != nil || !slices.Equal(p, []string{"v1"}) {
		t.Fatalf("prune: %v %v", p, err)
	}
	// Even if next-id is lost, ids come from what exists on disk.
	os.Remove(filepath.Join(s.StateDir(), "next-id"))
	st, err := s.NewStaging()
	if err != nil || st.ID != "v4" {
		t.Fatalf("next id %v %v", st, err)
	}
	// A failed staging consumes its id.
	st.Discard(StatusFailed, Record{}, errors.New("boom"))
	if r, err := s.Record("v4"); err != nil || r.Status != StatusFailed || r.Error != "boom" {
		t.Fatalf("v4 record %+v %v", r, err)
	}
	if id := stageFiles(t, s, map[string]string{"a": "2"}); id != "v5" {
		t.Fatalf("got %s after a failure, want v5", id)
	}
}

func TestPruneKeepsCurrentPreviousPinned(t *testing.T) {
	s := openStore(t)
	lock(t, s)
	for i := range 8 {
		id := stageFiles(t, s, map[string]string{"a": string(rune('a' + i))})
		if i == 1 || i == 6 {
			s.Activate(id, ActivateOptions{}) // v2, then v7
		}
	}
	// a failed id in between never counts
	st, _ := s.NewStaging()
	st.Discard(StatusFailed, Record{}, errors.New("x"))
	if _, err := s.SetPinned("v1", true, testWho); err != nil {
		t.Fatal(err)
	}
	kept, pruned, err := s.PrunePlan(2)
	if err != nil {
		t.Fatal(err)
	}
	// newest two staged: v8, v7(current); previous: v2; pinned: v1.
	if !slices.Equal(kept, []string{"v8", "v7", "v2", "v1"}) || !slices.Equal(pruned, []string{"v6", "v5", "v4", "v3"}) {
		t.Fatalf("kept %v pruned %v", kept, pruned)
	}
	got, err := s.Prune(2, testWho)
	if err != nil || !slices.Equal(got, pruned) {
		t.Fatal(got, err)
	}
	for _, id := range pruned {
		if _, err := os.Stat(s.Dir(id)); !os.IsNotExist(err) {
			t.Errorf("%s still on disk", id)
		}
		if r, _ := s.Record(id); r.Status != StatusPruned {
			t.Errorf("%s status %s", id, r.Status)
		}
	}
	if _, err := s.Activate("v3", ActivateOptions{}); !errors.Is(err, ErrNoRelease) {
		t.Fatalf("activating a pruned release: %v", err)
	}
}

func TestLockContention(t *testing.T) {
	s := openStore(t)
	l := lock(t, s)
	s2, _ := Open(s.Root)
	_, _, err := s2.Lock(context.Background(), 0, testWho, "deploy")
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.Holder == nil || le.Holder.PID != os.Getpid() || le.Holder.Op != "test" {
		t.Fatalf("second writer: %v", err)
	}
	if !strings.Contains(err.Error(), "pid ") || !strings.Contains(err.Error(), "--wait") {
		t.Fatalf("message does not name the holder: %v", err)
	}
	// A waiting writer gets it once the first lets go.
	done := make(chan error, 1)
	go func() {
		l2, _, err := s2.Lock(context.Background(), 10*time.Second, testWho, "deploy")
		if err == nil {
			l2.Unlock()
		}
		done <- err
	}()
	l.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Writes without the lock are refused.
	if _, err := s2.NewStaging(); !errors.Is(err, ErrNotLocked) {
		t.Fatalf("NewStaging without lock: %v", err)
	}
	if s.LockHolder() != nil {
		t.Fatal("holder reported for a free lock")
	}
}

func TestRecoverCleansLeftovers(t *testing.T) {
	s := openStore(t)
	l := lock(t, s)
	v1 := stageFiles(t, s, map[string]string{"a": "1"})
	s.Activate(v1, ActivateOptions{})
	st, _ := s.NewStaging()
	os.WriteFile(filepath.Join(st.Dir, "half"), []byte("x"), 0o444)
	// an unrecorded tree (killed between rename and record)
	os.MkdirAll(s.Dir("v9"), 0o755)
	os.WriteFile(filepath.Join(s.Dir("v9"), "x"), nil, 0o444)
	os.Chmod(s.Dir("v9"), 0o555)
	// temporary names of killed replacements: of current, of a record, and
	// one of the symlink package before fsatomic
	tmpLink, tmpRec, tmpCohort := fsatomic.TempName(CurrentName), fsatomic.TempName(v1+".json"), fsatomic.TempName("07")
	os.Symlink("releases/v1", filepath.Join(s.Root, tmpLink))
	os.Symlink("../canary", filepath.Join(s.Root, CohortsDir, tmpCohort)) // a killed canary resize
	os.WriteFile(filepath.Join(s.state(recordsDir), tmpRec), []byte("{"), 0o644)
	os.Symlink("releases/v1", filepath.Join(s.Root, ".tmp-link-current.abc"))
	l.abandon() // as a killed writer does: the lock file still describes it

	l2, cleaned, err := s.Lock(context.Background(), 0, testWho, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Unlock()
	joined := strings.Join(cleaned, "\n")
	for _, want := range []string{"staging tree " + st.ID, "release tree v9", ".tmp-link-current", tmpLink, "state/records/" + tmpRec, "cohorts/" + tmpCohort} {
		if !strings.Contains(joined, want) {
			t.Errorf("cleaned report lacks %q:\n%s", want, joined)
		}
	}
	for _, p := range []string{filepath.Join(s.Root, tmpLink), filepath.Join(s.state(recordsDir), tmpRec), filepath.Join(s.Root, ".tmp-link-current.abc"), filepath.Join(s.Root, CohortsDir, tmpCohort)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there", p)
		}
	}
	if _, err := os.Stat(s.Dir("v9")); !os.IsNotExist(err) {
		t.Error("v9 still there")
	}
	if r, err := s.Record(st.ID); err != nil || r.Status != StatusFailed {
		t.Errorf("interrupted %s: %+v %v", st.ID, r, err)
	}
	if current(t, s) != v1 {
		t.Fatal("current moved")
	}
	if id, _ := s.NextID(); id != "v10" {
		t.Fatalf("next id after leftovers %s, want v10", id)
	}
}

// TestOpenRefusesPlainCurrentDir: a plain current/ directory is refused
// with the way to adopt it, and nothing is created in the root.
func TestOpenRefusesPlainCurrentDir(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "current"), 0o755)
	_, err := Open(root)
	if err == nil || !strings.Contains(err.Error(), "not a symlink") || !errors.Is(err, ErrNotAdopted) || !strings.Contains(err.Error(), "adopt") {
		t.Fatalf("err = %v", err)
	}
}

// TestParseID checks the hand-written parser against the regular
// expression it replaced, ^v([1-9][0-9]{0,17})$.
func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		id string
		n  int64
		ok bool
	}{
		{"v1", 1, true}, {"v42", 42, true}, {"v999999999999999999", 999999999999999999, true},
		{"v1000000000000000000", 0, false}, {"v0", 0, false}, {"v01", 0, false}, {"v", 0, false},
		{"", 0, false}, {"1", 0, false}, {"V1", 0, false}, {"v1x", 0, false}, {"v-1", 0, false},
		{"v1 ", 0, false}, {" v1", 0, false}, {"v1.json", 0, false}, {"v٣", 0, false},
	} {
		n, ok := ParseID(tc.id)
		if n != tc.n || ok != tc.ok {
			t.Errorf("ParseID(%q) = %d, %v; want %d, %v", tc.id, n, ok, tc.n, tc.ok)
		}
	}
}

// TestSymlinkedReleaseRefused: a symlink planted in place of releases/v1
// is never served: activate and rollback to it are refused naming it,
// current does not move, and the decoy gets nothing.
func TestSymlinkedReleaseRefused(t *testing.T) {
	s := openStore(t)
	lock(t, s)
	v1 := stageFiles(t, s, map[string]string{"index.html": "one"})
	v2 := stageFiles(t, s, map[string]string{"index.html": "two"})
	for _, id := range []string{v1, v2} {
		if _, err := s.Activate(id, ActivateOptions{Who: testWho}); err != nil {
			t.Fatal(err)
		}
	}
	decoy := t.TempDir()
	os.WriteFile(filepath.Join(decoy, "secret"), []byte("x"), 0o600)
	if err := os.Rename(s.Dir(v1), filepath.Join(t.TempDir(), "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(decoy, s.Dir(v1)); err != nil {
		t.Fatal(err)
	}
	hook := func(from, to string) error { t.Errorf("hook ran for %s -> %s", from, to); return nil }
	_, err := s.Activate(v1, ActivateOptions{Who: testWho, Before: hook})
	if !errors.Is(err, ErrNotReleaseDir) || !strings.Contains(err.Error(), "releases/v1 is a symlink") || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("activate of a symlinked release: %v", err)
	}
	if _, _, err := s.Rollback(v1, ActivateOptions{Who: testWho, Before: hook}); !errors.Is(err, ErrNotReleaseDir) {
		t.Errorf("rollback to a symlinked release: %v", err)
	}
	if _, _, err := s.Rollback("", ActivateOptions{Who: testWho, Before: hook}); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("rollback with only a symlinked earlier release: %v", err)
	}
	if p, _ := s.Previous(); p != "" {
		t.Errorf("Previous = %q, a symlinked release", p)
	}
	if cur := current(t, s); cur != v2 {
		t.Errorf("current = %s, want %s", cur, v2)
	}
	if ents, _ := os.ReadDir(decoy); len(ents) != 1 {
		t.Errorf("the decoy changed: %v", ents)
	}
	os.Remove(s.Dir(v1))
	os.WriteFile(s.Dir(v1), nil, 0o644)
	if err := s.CheckTree(v1); !errors.Is(err, ErrNotReleaseDir) || !strings.Contains(err.Error(), "regular file") {
		t.Errorf("CheckTree of a file: %v", err)
	}
}

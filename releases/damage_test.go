package releases

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Recovery never removes the tree of a release whose record is damaged,
// and Records lists the damaged record instead of failing.
func TestDamagedRecordKeepsTree(t *testing.T) {
	s := openStore(t)
	l := lock(t, s)
	v1 := stageFiles(t, s, map[string]string{"index.html": "one"})
	if _, err := s.Activate(v1, ActivateOptions{Who: testWho}); err != nil {
		t.Fatal(err)
	}
	v2 := stageFiles(t, s, map[string]string{"index.html": "two"})
	if err := os.WriteFile(s.recordPath(v2), []byte(`{"id":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(v2); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Record of a truncated record: %v, want ErrDamaged", err)
	}
	recs, err := s.Records()
	if err != nil || len(recs) != 2 || recs[0].Status != StatusDamaged {
		t.Fatalf("Records: %+v %v", recs, err)
	}
	l.Unlock()
	did, err := s.recover(testWho)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir(v2)); err != nil {
		t.Fatalf("recovery removed the tree of a damaged record (%q): %v", did, err)
	}
	_, plan, err := s.PrunePlan(1)
	if err != nil || len(plan) != 0 {
		t.Fatalf("PrunePlan: %v %v", plan, err)
	}
}

// An empty or garbage next-id is rebuilt from the directories and the
// journal like a missing one: no id is reused.
func TestNextIDGarbage(t *testing.T) {
	for _, content := range []string{"", "x", "0"} {
		s := openStore(t)
		lock(t, s)
		stageFiles(t, s, map[string]string{"a": "a"})
		// An id known only to the journal.
		s.Append(Event{Event: EvFailed, Release: "v7", Who: testWho, Error: "lost"})
		os.WriteFile(filepath.Join(s.StateDir(), nextIDName), []byte(content), 0o644)
		id, err := s.NextID()
		if err != nil || id != "v8" {
			t.Fatalf("next-id %q: NextID = %q, %v; want v8", content, id, err)
		}
		if err := s.reserveSeen(); err != nil {
			t.Fatal(err)
		}
		ps, err := s.Fsck(context.Background(), FsckOptions{})
		if err != nil || len(ps) != 0 {
			t.Fatalf("fsck: %+v %v", ps, err)
		}
	}
}

package releases

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestFollowJournal(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Followed before the journal exists: waited for.
	got := make(chan Event, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.FollowJournal(ctx, 0, true, 5*time.Millisecond, func(ev Event) error { got <- ev; return nil })
	}()
	next := func() Event {
		t.Helper()
		select {
		case ev := <-got:
			return ev
		case <-time.After(20 * time.Second):
			t.Fatal("no event followed")
		}
		return Event{}
	}
	for _, id := range []string{"v1", "v2", "v3"} {
		if err := s.Append(Event{Event: EvActivated, Release: id, Who: testWho}); err != nil {
			t.Fatal(err)
		}
		if ev := next(); ev.Release != id || ev.Event != EvActivated {
			t.Fatalf("followed %+v, want %s", ev, id)
		}
	}
	// A torn line, ended by the next append's leading newline: skipped.
	f, err := os.OpenFile(s.state(journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2025-01-01T00:00:00Z","event":"activ`)
	f.Close()
	if err := s.Append(Event{Event: EvRolledBack, Release: "v2", From: "v3", Who: testWho}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Event != EvRolledBack || ev.From != "v3" {
		t.Fatalf("after a torn line: %+v", ev)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("FollowJournal after cancel: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("%d extra events", len(got))
	}

	// Not following: the last limit events, and it returns.
	var last []string
	if err := s.FollowJournal(context.Background(), 2, false, 0, func(ev Event) error { last = append(last, ev.Release); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(last) != 2 || last[0] != "v3" || last[1] != "v2" {
		t.Errorf("last 2: %v", last)
	}
	// Replaced by another file: read again from its start.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	got = make(chan Event, 100)
	go func() {
		done <- s.FollowJournal(ctx2, 1, true, 5*time.Millisecond, func(ev Event) error { got <- ev; return nil })
	}()
	if ev := next(); ev.Release != "v2" {
		t.Fatalf("limit 1: %+v", ev)
	}
	tmp := s.state("journal.new")
	os.WriteFile(tmp, []byte(`{"time":"2026-01-01T00:00:00Z","event":"activated","release":"v9","who":{"uid":0},"outcome":"ok"}`+"\n"), 0o644)
	if err := os.Rename(tmp, s.state(journalName)); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Release != "v9" {
		t.Fatalf("after replacement: %+v", ev)
	}
}

package releases

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/example/release-agent/symlink"
)

// Previous returns the release a rollback would go to: the most recent
// release that was live before the current one, still has its tree, and
// is not marked bad. It returns "" if there is none. It takes no lock.
func (s *Store) Previous() (string, error) {
	cur, err := s.Current()
	if err != nil {
		return "", err
	}
	ls, err := s.loadLive(nil)
	if err != nil {
		return "", err
	}
	return s.previous(ls, cur), nil
}

func (s *Store) previous(ls *liveState, cur string) string {
	for i := len(ls.History) - 1; i >= 0; i-- {
		id := ls.History[i]
		if id == cur {
			continue
		}
		r, err := s.recordOrRebuilt(id, ls)
		if err != nil || !r.Live() || r.Bad != "" {
			continue
		}
		if s.CheckTree(id) != nil {
			continue
		}
		return id
	}
	return ""
}

// noPreviousDetail says, for a rollback that has nowhere to go, what the
// store holds instead: the current release, and each other release with a
// tree and why it is no rollback target (never live, marked bad, its tree
// damaged), with the command that would use it. Only the failure path
// reads the records, so a rollback does no extra work.
func (s *Store) noPreviousDetail(cur string) string {
	var b strings.Builder
	if cur == "" {
		b.WriteString("nothing is live yet")
	} else {
		fmt.Fprintf(&b, "%s is live", cur)
	}
	recs, err := s.Records()
	if err != nil {
		return b.String()
	}
	var others []string
	gone := 0
	for _, r := range recs { // newest first
		if r.ID == cur {
			continue
		}
		switch {
		case !r.Live():
			gone++
		case r.Bad != "":
			others = append(others, fmt.Sprintf("%s is marked bad (%s; `releasectl rollback --to %s` goes there anyway)", r.ID, r.Bad, r.ID))
		case s.CheckTree(r.ID) != nil:
			others = append(others, fmt.Sprintf("%s has a damaged tree (see `releasectl fsck`)", r.ID))
		default:
			others = append(others, fmt.Sprintf("%s was never live (`releasectl activate %s` makes it live)", r.ID, r.ID))
		}
	}
	if len(others) == 0 {
		b.WriteString(" and it is the only release with a tree")
	} else {
		b.WriteString("; " + strings.Join(others, "; "))
	}
	if gone > 0 {
		fmt.Fprintf(&b, "; %d other records have no tree (pruned, failed or rejected)", gone)
	}
	return b.String()
}

// Hook runs under the lock just before current moves from one release to
// another (from may be ""). Carry-over of hashed assets uses it: the new
// release must be able to serve what pages of the old one reference. A
// hook error aborts the switch with nothing changed.
type Hook func(from, to string) error

// ActivateOptions tune Activate and Rollback.
type ActivateOptions struct {
	Who    Who
	Reason string
	Before Hook
}

// Activate makes release id current. It requires the lock. Activating
// the current release changes nothing. An explicit activation clears the
// release's bad mark.
//
// What is atomic and what is durable, for Activate and Rollback alike:
// ROOT/current is replaced by rename(2) of a new symlink (every reader of
// the path sees the old or the new release, never neither), then ROOT is
// fsynced; then one line is appended to the journal (one write(2) on an
// O_APPEND descriptor: the whole line or none of it) and fsynced. When
// the call returns nil both are durable, and so is everything derived
// from the line (see "The live state"): the rollback order, the
// activation time, the bad mark of the release a rollback left. A
// process killed after the rename and before the line leaves current
// switched and the line missing; the next writer's recovery appends a
// "recovered" line for it. Nothing else is written, except, once in
// checkpointLines journal lines, a checkpoint of the live state (atomic,
// not fsynced, after the line).
func (s *Store) Activate(id string, o ActivateOptions) (from string, err error) {
	if err := s.checkLocked(); err != nil {
		return "", err
	}
	sw, err := s.beginSwitch()
	if err != nil {
		return "", err
	}
	defer sw.close()
	return s.switchTo(sw, id, o, EvActivated)
}

// Rollback makes to current (or, if to is "", the release Previous names)
// and marks the release it leaves as bad, so a second rollback goes further
// back instead of returning to it. It requires the lock. See Activate for
// what is atomic and durable; the bad mark is derived from the journal
// line, durable with it.
func (s *Store) Rollback(to string, o ActivateOptions) (from, target string, err error) {
	if err := s.checkLocked(); err != nil {
		return "", "", err
	}
	sw, err := s.beginSwitch()
	if err != nil {
		return "", "", err
	}
	defer sw.close()
	cur := sw.cur
	if to == "" {
		if to = s.previous(sw.ls, cur); to == "" {
			return cur, "", fmt.Errorf("%w: %s", ErrNoPrevious, s.noPreviousDetail(cur))
		}
	}
	if to == cur {
		return cur, to, fmt.Errorf("%s is already current", to)
	}
	from, err = s.switchTo(sw, to, o, EvRolledBack)
	return from, to, err
}

// switching is one switch in progress: the journal, opened for reading
// and appending, the live state read from it, and where current points.
type switching struct {
	journal *os.File
	ls      *liveState
	cur     string
}

func (sw *switching) close() { sw.journal.Close() }

// lockWho is the Who of the lock's holder.
func (s *Store) lockWho() Who {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked == nil {
		return Who{}
	}
	return s.locked.who
}

func (s *Store) beginSwitch() (*switching, error) {
	cur, err := s.Current()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.state(journalName), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	ls, err := s.loadLive(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if ls.legacy {
		// Recovery migrated it when the lock was taken, unless a writer
		// of an older version replaced it since.
		if err := s.migrateLive(ls); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, ours := ParseID(cur); ours && ls.last() != cur {
		// current was changed by hand, or by a switch whose line is
		// missing: record it first, so that the rollback order has it.
		ev := Event{Event: EvRecovered, Release: cur, Who: s.lockWho(), Detail: "current was switched but not recorded; recorded now"}
		if err := appendEvent(f, &ev); err != nil {
			f.Close()
			return nil, err
		}
		ls.apply(&ev)
	}
	return &switching{journal: f, ls: ls, cur: cur}, nil
}

func (s *Store) switchTo(sw *switching, id string, o ActivateOptions, ev string) (from string, err error) {
	rec, err := s.recordOrRebuilt(id, sw.ls)
	if err != nil {
		return "", err
	}
	if !rec.Live() {
		return "", fmt.Errorf("%w: %s is %s, it has no tree to activate", ErrNoRelease, id, rec.Status)
	}
	if err := s.CheckTree(id); err != nil {
		if errors.Is(err, ErrNotReleaseDir) {
			return "", err
		}
		return "", fmt.Errorf("%w: %s has a record but no tree at %s", ErrNoRelease, id, s.Dir(id))
	}
	from = sw.cur
	if from == id {
		return from, nil
	}
	if o.Before != nil {
		if err := o.Before(from, id); err != nil {
			return from, fmt.Errorf("preparing %s: %w", id, err)
		}
	}
	// The checkpoint, when due, covers the journal up to before this
	// switch's line.
	var checkpoint *liveState
	if sw.ls.tail >= checkpointLines {
		checkpoint = sw.ls.clone()
	}
	ci, cerr := s.CanaryState()
	if err := symlink.Replace(s.CurrentPath(), ReleasesDir+"/"+id); err != nil {
		return from, fmt.Errorf("switching %s to %s: %w", s.CurrentPath(), id, err)
	}
	e := Event{Event: ev, Release: id, From: from, Who: o.Who, Detail: o.Reason,
		Source: rec.Source.Spec, SHA256: rec.Source.SHA256, Provenance: rec.Provenance}
	if err := appendEvent(sw.journal, &e); err != nil {
		return from, fmt.Errorf("%s is live, but recording it failed: %w", id, err)
	}
	sw.ls.apply(&e)
	sw.cur = id
	// ROOT/canary follows current (see "Canaries"); a switch to another
	// release than a running canary's ends the canary.
	if err := s.followCanary(ci, cerr, id); err != nil {
		return from, fmt.Errorf("%s is live, but %w", id, err)
	}
	if checkpoint != nil {
		// After the durable part, and a failure loses nothing: the
		// journal has it all.
		s.writeCheckpoint(checkpoint)
	}
	return from, nil
}

// SetPinned pins or unpins id; pinned releases are never pruned. It
// reports whether anything changed. It requires the lock.
func (s *Store) SetPinned(id string, pin bool, who Who) (bool, error) {
	if err := s.checkLocked(); err != nil {
		return false, err
	}
	rec, err := s.Record(id)
	if err != nil {
		return false, err
	}
	if pin && !rec.Live() {
		return false, fmt.Errorf("%w: %s is %s, there is nothing to pin", ErrNoRelease, id, rec.Status)
	}
	if rec.Pinned == pin {
		return false, nil
	}
	rec.Pinned = pin
	if err := s.PutRecord(rec); err != nil {
		return false, err
	}
	ev := EvPinned
	if !pin {
		ev = EvUnpinned
	}
	return true, s.Append(Event{Event: ev, Release: id, Who: who})
}

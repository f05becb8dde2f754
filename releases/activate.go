package releases

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/example/release-agent/symlink"
)

// live.json: the ids that were made current, oldest first.
type liveState struct {
	History []string `json:"history"`
}

const maxHistory = 1000

func (s *Store) readLive() (liveState, error) {
	var ls liveState
	err := readJSON(s.state(liveName), &ls)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return ls, err
}

func (s *Store) pushLive(id string) error {
	ls, err := s.readLive()
	if err != nil {
		return err
	}
	if n := len(ls.History); n > 0 && ls.History[n-1] == id {
		return nil
	}
	ls.History = append(ls.History, id)
	if len(ls.History) > maxHistory {
		ls.History = ls.History[len(ls.History)-maxHistory:]
	}
	// Not fsynced: after a power loss Recover re-derives the last entry
	// from where current points (see recover).
	return writeJSONReplace(s.state(liveName), ls)
}

// Previous returns the release a rollback would go to: the most recent
// release that was live before the current one, still has its tree, and
// is not marked bad. It returns "" if there is none. It takes no lock.
func (s *Store) Previous() (string, error) {
	cur, err := s.Current()
	if err != nil {
		return "", err
	}
	ls, err := s.readLive()
	if err != nil {
		return "", err
	}
	for i := len(ls.History) - 1; i >= 0; i-- {
		id := ls.History[i]
		if id == cur {
			continue
		}
		r, err := s.Record(id)
		if err != nil || !r.Live() || r.Bad != "" {
			continue
		}
		if _, err := os.Stat(s.Dir(id)); err != nil {
			continue
		}
		return id, nil
	}
	return "", nil
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

// Activate makes release id current: symlink.Replace of ROOT/current
// (atomic, then durable), then live.json, the record and the journal. It
// requires the lock. Activating the current release changes nothing. An
// explicit activation clears the release's bad mark.
func (s *Store) Activate(id string, o ActivateOptions) (from string, err error) {
	return s.activate(id, o, EvActivated)
}

func (s *Store) activate(id string, o ActivateOptions, ev string) (from string, err error) {
	if err := s.checkLocked(); err != nil {
		return "", err
	}
	rec, err := s.Record(id)
	if err != nil {
		return "", err
	}
	if !rec.Live() {
		return "", fmt.Errorf("%w: %s is %s, it has no tree to activate", ErrNoRelease, id, rec.Status)
	}
	if fi, err := os.Stat(s.Dir(id)); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: %s has a record but no tree at %s", ErrNoRelease, id, s.Dir(id))
	}
	from, err = s.Current()
	if err != nil {
		return "", err
	}
	if from == id {
		return from, nil
	}
	if o.Before != nil {
		if err := o.Before(from, id); err != nil {
			return from, fmt.Errorf("preparing %s: %w", id, err)
		}
	}
	if err := symlink.Replace(s.CurrentPath(), ReleasesDir+"/"+id); err != nil {
		return from, fmt.Errorf("switching %s to %s: %w", s.CurrentPath(), id, err)
	}
	// current has moved; what follows is bookkeeping that Recover can
	// redo from the symlink if we die here.
	var errs []error
	if err := s.pushLive(id); err != nil {
		errs = append(errs, err)
	}
	now := time.Now().UTC()
	rec.Activated = &now
	if ev == EvActivated {
		rec.Bad = ""
	}
	// The activation time is informational: atomic, not fsynced. (A
	// cleared bad mark is re-set by nothing, so losing it is harmless.)
	if err := s.checkLocked(); err == nil {
		if err := writeJSONReplace(s.recordPath(rec.ID), rec); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.Append(Event{Event: ev, Release: id, From: from, Who: o.Who, Detail: o.Reason,
		Source: rec.Source.Spec, SHA256: rec.Source.SHA256}); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return from, fmt.Errorf("%s is live, but recording it failed: %w", id, errors.Join(errs...))
	}
	return from, nil
}

// Rollback makes to current (or, if to is "", the release Previous names)
// and marks the release it leaves as bad, so a second rollback goes further
// back instead of returning to it. It requires the lock.
func (s *Store) Rollback(to string, o ActivateOptions) (from, target string, err error) {
	if err := s.checkLocked(); err != nil {
		return "", "", err
	}
	cur, err := s.Current()
	if err != nil {
		return "", "", err
	}
	if to == "" {
		if to, err = s.Previous(); err != nil {
			return cur, "", err
		}
		if to == "" {
			return cur, "", fmt.Errorf("%w (current is %q); list the releases with `releasectl list`", ErrNoPrevious, cur)
		}
	}
	if to == cur {
		return cur, to, fmt.Errorf("%s is already current", to)
	}
	from, err = s.activate(to, o, EvRolledBack)
	if err != nil {
		return from, to, err
	}
	if from != "" {
		if rec, err := s.Record(from); err == nil {
			reason := o.Reason
			if reason == "" {
				reason = "rolled back"
			}
			rec.Bad = fmt.Sprintf("%s at %s", reason, time.Now().UTC().Format(time.RFC3339))
			if err := s.PutRecord(rec); err != nil {
				return from, to, fmt.Errorf("%s is live, but marking %s bad failed: %w", to, from, err)
			}
		}
	}
	return from, to, nil
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

// LiveHistory returns the ids that were made current, oldest first.
func (s *Store) LiveHistory() ([]string, error) {
	ls, err := s.readLive()
	return ls.History, err
}

package releases

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// # Damage
//
// A file of the store can be damaged by what the store does not control:
// a disk error, a full file system on an old kernel, a hand edit, a tree
// deleted by hand. The store reports such damage and works around it
// instead of stopping: a record that does not parse is a *DamagedError
// (wrapping ErrDamaged), Records lists it with status damaged, Previous
// and the switches use a record rebuilt from the manifest, the tree and
// the journal (RebuildRecord), Prune never selects it, recovery never
// deletes its tree, and an unreadable next-id is rebuilt like a missing
// one. Fsck finds all of it and repairs what can be repaired.

// ErrDamaged is wrapped by the error of a store file that does not parse.
var ErrDamaged = errors.New("damaged")

// StatusDamaged is the status Records gives a record that does not parse
// (its Error says why). It is never written.
const StatusDamaged Status = "damaged"

// DamagedError is the error of a record that exists but does not parse.
type DamagedError struct {
	ID   string
	Path string
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("record of %s (%s) is damaged: %v; `releasectl fsck --repair` rebuilds it", e.ID, e.Path, e.Err)
}

func (e *DamagedError) Unwrap() error { return ErrDamaged }

// RebuildRecord returns the record of id as the store can rebuild it
// without its record file: status staged if its tree and manifest exist
// (pruned if only the manifest does: the tree is gone), failed or
// rejected from the journal otherwise; source, creation time and who from
// the journal's line for it; files and bytes from the manifest; pinned
// from the journal. Linked files are not known (0). It writes nothing.
func (s *Store) RebuildRecord(id string) (*Record, error) {
	if err := CheckID(id); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoRelease, err)
	}
	ls, err := s.loadLive(nil)
	if err != nil {
		return nil, err
	}
	return s.rebuildRecord(id, ls, nil)
}

// rebuildRecord is RebuildRecord with the live state and the journal's
// events (nil: read them).
func (s *Store) rebuildRecord(id string, ls *liveState, evs []Event) (*Record, error) {
	if evs == nil {
		evs, _, _ = s.Journal(0)
	}
	r := &Record{ID: id}
	known := false
	for _, ev := range evs {
		if ev.Release != id {
			continue
		}
		switch ev.Event {
		case EvStaged, EvFailed, EvRejected, EvAdopted:
			known = true
			r.Created, r.Who = ev.Time, ev.Who
			r.Source.Spec, r.Source.SHA256, r.Provenance = ev.Source, ev.SHA256, ev.Provenance
			r.Status, r.Error = StatusStaged, ev.Error
			if ev.Event == EvFailed {
				r.Status = StatusFailed
			} else if ev.Event == EvRejected {
				r.Status = StatusRejected
			}
		case EvPruned:
			r.Status = StatusPruned
		case EvPinned:
			r.Pinned = true
		case EvUnpinned:
			r.Pinned = false
		}
	}
	m, merr := s.Manifest(id)
	fi, terr := os.Lstat(s.Dir(id))
	hasTree := terr == nil && fi.IsDir()
	if merr == nil {
		known = true
		r.Files, r.Bytes = m.Totals()
		if hasTree {
			r.Status = StatusStaged
		} else if r.Status == StatusStaged || r.Status == "" {
			r.Status = StatusPruned
		}
	} else if r.Status == StatusStaged {
		r.Status = StatusPruned
	}
	if !known {
		return nil, fmt.Errorf("%w: nothing to rebuild the record of %s from (no manifest, no journal line)", ErrNoRelease, id)
	}
	if r.Status == StatusStaged {
		_, err := os.Stat(s.state(reportsDir, id+".hashes.json"))
		r.Hashed = err == nil
		_, err = os.Stat(s.state(reportsDir, id+".report.json"))
		r.Validated = err == nil
	}
	ls.merge(r)
	return r, nil
}

// recordOrRebuilt is record, with a damaged record replaced by the one
// rebuildRecord makes, if it can.
func (s *Store) recordOrRebuilt(id string, ls *liveState) (*Record, error) {
	r, err := s.record(id, ls)
	if errors.Is(err, ErrDamaged) {
		if rb, rerr := s.rebuildRecord(id, ls, nil); rerr == nil {
			return rb, nil
		}
	}
	return r, err
}

// readNextID returns the value of next-id; ok is false when it is
// missing, or does not hold a positive number (empty, garbage): then it
// must be rebuilt (see rebuiltNextID).
func (s *Store) readNextID() (n int64, ok bool, err error) {
	b, err := os.ReadFile(s.state(nextIDName))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if perr != nil || n < 1 {
		return 0, false, nil
	}
	return n, true, nil
}

// rebuiltNextID is what next-id holds when it has to be rebuilt: one more
// than the highest id of a tree, record, manifest, staging directory or
// journal line.
func (s *Store) rebuiltNextID() (int64, error) {
	hi, err := s.maxSeenID()
	if err != nil {
		return 0, err
	}
	evs, _, err := s.Journal(0)
	if err != nil {
		return 0, err
	}
	for _, ev := range evs {
		if n, ok := ParseID(ev.Release); ok && n > hi {
			hi = n
		}
	}
	return hi + 1, nil
}

// TreeDamage checks the tree of release id against its manifest with one
// lstat(2) per entry and returns "" if every file is there, else what is
// wrong (the tree is missing or not a directory; files are missing). An
// error means the check could not be made (no manifest).
func (s *Store) TreeDamage(id string) (string, error) {
	if fi, err := os.Lstat(s.Dir(id)); err != nil || !fi.IsDir() {
		return fmt.Sprintf("tree %s/%s is missing or not a directory", ReleasesDir, id), nil
	}
	m, err := s.Manifest(id)
	if err != nil {
		return "", err
	}
	var missing []string
	for _, e := range m.Entries {
		if _, err := os.Lstat(s.Dir(id) + "/" + e.Path); err != nil {
			missing = append(missing, e.Path)
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d of %d files missing from %s/%s (first: %s)", len(missing), len(m.Entries), ReleasesDir, id, missing[0]), nil
}

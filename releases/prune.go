package releases

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/example/release-agent/internal/fsatomic"
)

// DefaultKeep is how many releases prune keeps by default.
const DefaultKeep = 5

// PruneOptions say which releases prune may remove.
type PruneOptions struct {
	// Keep protects the Keep newest releases with trees. 0 protects none
	// by count, and is allowed only with OlderThan.
	Keep int
	// OlderThan, when positive, protects every release that was current
	// (or, never live, was staged) within OlderThan before Now: a release
	// is pruned only when it is beyond Keep and older than that
	// ([site] keep_for, prune --older-than).
	OlderThan time.Duration
	// Now is the clock of OlderThan; zero means time.Now().
	Now time.Time
}

func (o PruneOptions) String() string {
	switch {
	case o.OlderThan > 0 && o.Keep > 0:
		return fmt.Sprintf("keep %d, older than %s", o.Keep, o.OlderThan)
	case o.OlderThan > 0:
		return fmt.Sprintf("older than %s", o.OlderThan)
	}
	return fmt.Sprintf("keep %d", o.Keep)
}

// PrunePlan splits the releases with trees into those kept and those
// pruned: the keep newest staged releases are kept, and so are the current
// one, the previous one (the rollback target) and pinned ones, whatever
// their age. Failed and rejected ids have no tree and never count. It
// takes no lock; Prune re-plans under the lock.
func (s *Store) PrunePlan(keep int) (kept, pruned []string, err error) {
	return s.PrunePlanWith(PruneOptions{Keep: keep})
}

// PrunePlanWith is PrunePlan with o's rules: a release is pruned only if
// it is beyond o.Keep and, with o.OlderThan, left current (or was staged,
// if never live) more than o.OlderThan ago. The current release, the
// previous one, a running canary and pinned releases are always kept.
func (s *Store) PrunePlanWith(o PruneOptions) (kept, pruned []string, err error) {
	if o.Keep < 1 && !(o.Keep == 0 && o.OlderThan > 0) {
		return nil, nil, fmt.Errorf("keep must be at least 1, not %d", o.Keep)
	}
	if o.OlderThan < 0 {
		return nil, nil, fmt.Errorf("older-than must not be negative, not %s", o.OlderThan)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	recs, err := s.Records()
	if err != nil {
		return nil, nil, err
	}
	cur, err := s.Current()
	if err != nil {
		return nil, nil, err
	}
	prev, err := s.Previous()
	if err != nil {
		return nil, nil, err
	}
	canary, _ := s.Canary()
	var left map[string]time.Time
	if o.OlderThan > 0 {
		if left, err = s.LeftCurrent(); err != nil {
			return nil, nil, err
		}
	}
	n := 0
	for _, r := range recs { // newest first
		if !r.Live() {
			continue
		}
		n++
		young := false
		if o.OlderThan > 0 {
			t, ok := left[r.ID]
			if !ok {
				t = r.Created
			}
			young = now.Sub(t) < o.OlderThan
		}
		if (o.Keep > 0 && n <= o.Keep) || young || r.ID == cur || r.ID == prev || r.ID == canary || r.Pinned {
			kept = append(kept, r.ID)
		} else {
			pruned = append(pruned, r.ID)
		}
	}
	return kept, pruned, nil
}

// Prune removes the trees PrunePlan selects. Each tree first leaves
// releases/ by one rename (into state/trash), so it is never seen half
// deleted, then is deleted; its record stays with status pruned. It
// requires the lock.
func (s *Store) Prune(keep int, who Who) (pruned []string, err error) {
	return s.PruneWith(PruneOptions{Keep: keep}, who)
}

// PruneWith is Prune with o's rules (see PrunePlanWith).
func (s *Store) PruneWith(o PruneOptions, who Who) (pruned []string, err error) {
	if err := s.checkLocked(); err != nil {
		return nil, err
	}
	_, plan, err := s.PrunePlanWith(o)
	if err != nil {
		return nil, err
	}
	trash := s.state(trashDir)
	if err := os.MkdirAll(trash, 0o755); err != nil {
		return nil, err
	}
	for _, id := range plan {
		rec, err := s.Record(id)
		if err != nil {
			return pruned, err
		}
		t := filepath.Join(trash, id)
		if err := os.Rename(s.Dir(id), t); err != nil && !os.IsNotExist(err) {
			return pruned, fmt.Errorf("pruning %s: %w", id, err)
		}
		rec.Status = StatusPruned
		if err := s.PutRecord(rec); err != nil {
			return pruned, err
		}
		if err := removeTree(t); err != nil {
			return pruned, fmt.Errorf("pruning %s: %w", id, err)
		}
		pruned = append(pruned, id)
		if err := s.Append(Event{Event: EvPruned, Release: id, Who: who, Detail: o.String()}); err != nil {
			return pruned, err
		}
	}
	return pruned, nil
}

// recover repairs what a killed writer left, under the lock, and says what
// it did, one line per action (Lock runs it only when the previous holder
// did not finish cleanly):
//   - staging trees (interrupted deploys) are removed and their ids
//     recorded as failed;
//   - trees in releases/ without a record (killed between the rename and
//     the record) are removed, unless current points at them;
//   - trash (interrupted prunes) and temporary files (fsatomic.RemoveTemps)
//     are removed;
//   - an old-form live.json becomes a checkpoint (see "The live state");
//   - a switch whose journal line is missing (killed between the rename
//     and the line) gets a "recovered" line.
func (s *Store) recover(who Who) ([]string, error) {
	var did []string
	// Leftovers about to be removed may carry ids next-id has not seen
	// (it is written before use, so only if it was lost): bump it first so
	// no id is ever reused.
	if err := s.reserveSeen(); err != nil {
		return did, err
	}
	stage := s.state(stagingDir)
	ents, _ := os.ReadDir(stage)
	for _, e := range ents {
		p := filepath.Join(stage, e.Name())
		if err := removeTree(p); err != nil {
			return did, err
		}
		did = append(did, fmt.Sprintf("removed staging tree %s of an interrupted deploy", e.Name()))
		if _, ok := ParseID(e.Name()); ok {
			if _, err := s.record(e.Name(), nil); errors.Is(err, ErrNoRelease) {
				rec := Record{ID: e.Name(), Status: StatusFailed, Who: who, Error: "interrupted: the deploying process died"}
				if err := s.PutRecord(&rec); err != nil {
					return did, err
				}
				s.Append(Event{Event: EvFailed, Release: e.Name(), Who: who, Outcome: "error", Error: rec.Error})
			}
		}
	}
	did = append(did, s.adoptRollForward()...)
	cur, err := s.Current()
	if err != nil {
		if fe, _ := detectForeign(s.Root); fe == nil {
			return did, err
		}
		// Another tool's current (a plain directory, an absolute link
		// into releases/) while Adopt runs: nothing of ours is live.
		cur, err = "", nil
	}
	if _, ours := ParseID(cur); !ours {
		cur = "" // a Capistrano release: not ours to record as live
	}
	rels := filepath.Join(s.Root, ReleasesDir)
	ents, _ = os.ReadDir(rels)
	for _, e := range ents {
		id := e.Name()
		p := filepath.Join(rels, id)
		if _, ok := ParseID(id); !ok || id == cur {
			continue
		}
		// Only a tree whose record is missing (or says pruned) is a
		// leftover: a damaged record's tree is kept for fsck to rebuild.
		if rec, err := s.record(id, nil); !errors.Is(err, ErrNoRelease) && (err != nil || rec.Status != StatusPruned) {
			continue
		}
		if err := removeTree(p); err != nil {
			return did, err
		}
		did = append(did, fmt.Sprintf("removed release tree %s that was never recorded (interrupted deploy or prune)", id))
	}
	if ents, _ := os.ReadDir(s.state(trashDir)); len(ents) > 0 {
		for _, e := range ents {
			if err := removeTree(filepath.Join(s.state(trashDir), e.Name())); err != nil {
				return did, err
			}
			did = append(did, fmt.Sprintf("finished deleting pruned tree %s", e.Name()))
		}
	}
	// Under the lock no replacement is in flight in these directories.
	// A temporary file that cannot be removed is harmless: no error here
	// keeps the store locked.
	for _, d := range s.tempDirs() {
		removed, _ := fsatomic.RemoveTemps(d)
		removed = append(removed, removeLegacyTemps(d)...)
		for _, name := range removed {
			did = append(did, "removed temporary file "+strings.TrimPrefix(filepath.Join(d, name), s.Root+"/"))
		}
	}
	ls, err := s.loadLive(nil)
	if err != nil {
		return did, err
	}
	if ls.legacy {
		if err := s.migrateLive(ls); err != nil {
			return did, err
		}
	} else if ls.tail >= checkpointLines {
		s.writeCheckpoint(ls) // best effort: the journal has it all
	}
	if cur != "" && ls.last() != cur {
		s.Append(Event{Event: EvRecovered, Release: cur, Who: who, Detail: "current was switched but not recorded; recorded now"})
		did = append(did, fmt.Sprintf("recorded %s as live (the switch happened, its bookkeeping did not)", cur))
	}
	return did, nil
}

// tempDirs are the directories where writers replace files and links
// through temporary names: recovery removes what a killed writer left
// there, and fsck reports it.
func (s *Store) tempDirs() []string {
	return []string{s.Root, filepath.Join(s.Root, ReleasesDir), filepath.Join(s.Root, CohortsDir),
		s.state(), s.state(recordsDir), s.state(manifestsDir), s.state(reportsDir)}
}

// removeLegacyTemps removes from dir the temporary files of the writers
// that package fsatomic replaced (".tmp-NAME-N" of the store's own,
// ".tmp-link-NAME.X" of package symlink), which a store last written by an
// earlier version may hold, and returns their names.
func removeLegacyTemps(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var removed []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") && os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}

package releases

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/example/release-agent/internal/fsatomic"
)

// # The live state
//
// What a switch changes besides the symlink — which releases were live,
// in order (the rollback order), when each was last made live, and which
// are marked bad — is not stored by the switch: it is derived from the
// journal, where every switch writes one fsynced line anyway
// ("activated"/"rolled-back" with the release and the one it replaced,
// "recovered" for a switch whose line a killed process never wrote). So
// a switch durably writes exactly two things: the symlink (rename, fsync
// of ROOT) and its journal line (write, fsync), and once its journal line
// is durable, so is everything derived from it, the bad mark included.
//
// state/live.json is a checkpoint of the derived state as of a byte offset
// of the journal ("journal_offset"). It is replaced atomically (rename)
// but never fsynced: a lost or stale checkpoint only means more journal
// lines to apply. Readers load it and apply the journal lines after its
// offset (complete lines only; a torn last line is ignored); writers
// refresh it, under the lock, when more than checkpointLines lines follow
// it, after the journal line of a switch.
//
// Activation times and bad marks live in the checkpoint's maps for
// releases that still have trees; Record merges them into what it
// returns. When a release is pruned its record is rewritten with the
// merged values (Prune writes the record before the "pruned" line), and
// the "pruned" line drops them from the maps, so the maps stay as small as
// the set of kept releases. A release absent from a map keeps its
// record's own value.
//
// Stores written before this scheme have a live.json without a version
// ({"history": [...]}) and keep bad marks and activation times in the
// records themselves: they are read as they are (the old live.json is
// complete; there is no journal offset to apply lines from), and the
// first writer's recovery turns the file into a checkpoint at the
// journal's current length, leaving the records' values in place as the
// fallback.

// liveVersion marks a live.json that is a checkpoint of the journal.
const liveVersion = 2

// checkpointLines: a writer holding the lock rewrites the checkpoint once
// this many journal lines follow it.
const checkpointLines = 32

// maxHistory bounds the rollback order kept (oldest entries go first).
const maxHistory = 1000

// The rollback order keeps each release once, at its most recent
// activation, and drops pruned releases: what a rollback looks for (the
// most recent release before the current one that is not bad and still
// has its tree) does not depend on older occurrences, and the checkpoint
// stays a few lines long however often two releases swap.

// liveState is the derived state (see above) as of journal offset end.
type liveState struct {
	Version int      `json:"version,omitempty"`
	Offset  int64    `json:"journal_offset"`
	History []string `json:"history"` // oldest first, each id once
	// Activated: when each release was last made live.
	Activated map[string]time.Time `json:"activated,omitempty"`
	// Bad: the bad mark of each release ("" once an activation cleared it).
	Bad map[string]string `json:"bad,omitempty"`

	legacy bool  // an old-form live.json: marks are in the records
	end    int64 // the journal offset this state reflects
	tail   int   // journal lines read after the checkpoint
}

func newLiveState() *liveState {
	return &liveState{Version: liveVersion, Activated: map[string]time.Time{}, Bad: map[string]string{}}
}

func (ls *liveState) last() string {
	if n := len(ls.History); n > 0 {
		return ls.History[n-1]
	}
	return ""
}

// apply folds one journal event into the state.
func (ls *liveState) apply(ev *Event) {
	if ev.Outcome == "error" || ev.Release == "" {
		return
	}
	switch ev.Event {
	case EvActivated, EvRolledBack, EvRecovered, EvAdopted:
		ls.push(ev.Release)
		if ev.Event == EvRecovered || ev.Event == EvAdopted {
			return
		}
		ls.Activated[ev.Release] = ev.Time
		if ev.Event == EvActivated {
			ls.Bad[ev.Release] = ""
		} else if ev.From != "" {
			ls.Bad[ev.From] = badMark(ev.Detail, ev.Time)
		}
	case EvCanaryAborted:
		// The canary never was current: it only gets the bad mark, so a
		// later canary or activation of it is a deliberate choice.
		ls.Bad[ev.Release] = badMark("canary aborted "+ev.Detail, ev.Time)
	case EvPruned:
		ls.History = slices.DeleteFunc(ls.History, func(id string) bool { return id == ev.Release })
		delete(ls.Activated, ev.Release)
		delete(ls.Bad, ev.Release)
	}
}

// push makes id the most recent entry of the rollback order.
func (ls *liveState) push(id string) {
	if ls.last() == id {
		return
	}
	ls.History = append(slices.DeleteFunc(ls.History, func(h string) bool { return h == id }), id)
	if len(ls.History) > maxHistory {
		ls.History = slices.Delete(ls.History, 0, len(ls.History)-maxHistory)
	}
}

// badMark is the Bad of a release rolled back from at t.
func badMark(reason string, t time.Time) string {
	if reason == "" {
		reason = "rolled back"
	}
	return fmt.Sprintf("%s at %s", reason, t.UTC().Format(time.RFC3339))
}

// merge puts the derived activation time and bad mark of r.ID into r.
func (ls *liveState) merge(r *Record) {
	if ls == nil || ls.legacy {
		return
	}
	if t, ok := ls.Activated[r.ID]; ok {
		r.Activated = &t
	}
	if b, ok := ls.Bad[r.ID]; ok {
		r.Bad = b
	}
}

// clone returns a copy that later applies do not change.
func (ls *liveState) clone() *liveState {
	c := *ls
	c.History = slices.Clone(ls.History)
	c.Activated = maps.Clone(ls.Activated)
	c.Bad = maps.Clone(ls.Bad)
	return &c
}

// switchKinds are the journal events apply looks at, as json.Marshal
// writes them: lines without one are skipped without being decoded.
var switchKinds = [][]byte{
	[]byte(`"event":"` + EvActivated + `"`), []byte(`"event":"` + EvRolledBack + `"`),
	[]byte(`"event":"` + EvRecovered + `"`), []byte(`"event":"` + EvPruned + `"`),
	[]byte(`"event":"` + EvAdopted + `"`), []byte(`"event":"` + EvCanaryAborted + `"`),
}

// applyLines applies the complete lines of b, which starts at journal
// offset off, and returns the offset after the last complete line.
func (ls *liveState) applyLines(b []byte, off int64) int64 {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return off
		}
		line := b[:i]
		b, off = b[i+1:], off+int64(i)+1
		ls.tail++
		if !slices.ContainsFunc(switchKinds, func(k []byte) bool { return bytes.Contains(line, k) }) {
			continue
		}
		// Only the fields apply reads (decoding Who and the rest of every
		// line would cost a few microseconds each).
		var ev switchEvent
		if unmarshal(line, &ev, decodeSwitchEvent) == nil {
			ls.apply(&Event{Time: ev.Time, Event: ev.Event, Release: ev.Release, From: ev.From, Outcome: ev.Outcome, Detail: ev.Detail})
		}
	}
}

// loadLive returns the live state: the checkpoint and the journal lines
// after it. journal, if not nil, is the journal opened for reading;
// otherwise loadLive opens it. It takes no lock. A checkpoint that does
// not parse (it is only ever replaced whole, so only a damaged disk or a
// hand edit does that) is ignored: the journal alone gives the state.
func (s *Store) loadLive(journal *os.File) (*liveState, error) {
	ls := newLiveState()
	b, err := os.ReadFile(s.state(liveName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// no checkpoint yet: everything is in the journal
	case err != nil:
		return nil, err
	default:
		var c liveState
		if unmarshal(b, &c, decodeCheckpoint) != nil {
			break
		}
		if c.Version == 0 {
			c.legacy = true
			return &c, nil
		}
		if c.Activated == nil {
			c.Activated = map[string]time.Time{}
		}
		if c.Bad == nil {
			c.Bad = map[string]string{}
		}
		ls = &c
	}
	if journal == nil {
		f, err := os.Open(s.state(journalName))
		if errors.Is(err, fs.ErrNotExist) {
			ls.end = ls.Offset
			return ls, nil
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		journal = f
	}
	if err := ls.readTail(journal); err != nil {
		return nil, fmt.Errorf("journal %s: %w", s.state(journalName), err)
	}
	return ls, nil
}

// readTail applies the journal lines after the checkpoint's offset. A
// journal shorter than the offset was replaced or truncated by hand: the
// checkpoint stands, and all of the journal's lines come after it.
func (ls *liveState) readTail(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size, from := fi.Size(), ls.Offset
	if size < from {
		from = 0
	}
	b := make([]byte, size-from)
	if _, err := f.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	ls.end = ls.applyLines(b, from)
	return nil
}

// writeCheckpoint replaces live.json with ls as of journal offset ls.end:
// atomic (rename), not durable (see above).
func (s *Store) writeCheckpoint(ls *liveState) error {
	c := *ls
	c.Version, c.Offset = liveVersion, ls.end
	b, err := json.Marshal(&c)
	if err != nil {
		return err
	}
	return fsatomic.Replacer{NoSync: true}.WriteFile(s.state(liveName), append(b, '\n'), 0o644)
}

// migrateLive turns an old-form live.json into a checkpoint at the
// journal's current length (see above). It requires the lock.
func (s *Store) migrateLive(ls *liveState) error {
	var size int64
	if fi, err := os.Stat(s.state(journalName)); err == nil {
		size = fi.Size()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	m := newLiveState()
	for _, id := range ls.History {
		m.push(id)
	}
	m.end = size
	if err := s.writeCheckpoint(m); err != nil {
		return err
	}
	*ls = *m
	return nil
}

// LiveHistory returns the ids that were made current, oldest first, each
// at its most recent activation.
func (s *Store) LiveHistory() ([]string, error) {
	ls, err := s.loadLive(nil)
	if err != nil {
		return nil, err
	}
	return ls.History, nil
}

// LeftCurrent returns, for each release that was current and no longer
// is, when it stopped being current: the activation time of the release
// that followed it in the rollback order. Releases whose successor has no
// activation time (recovered or adopted lines) are missing from the map.
// It takes no lock.
func (s *Store) LeftCurrent() (map[string]time.Time, error) {
	ls, err := s.loadLive(nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(ls.History))
	for i := 0; i+1 < len(ls.History); i++ {
		if t, ok := ls.Activated[ls.History[i+1]]; ok {
			out[ls.History[i]] = t
		}
	}
	return out, nil
}

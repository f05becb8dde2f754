package releases

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// FollowInterval is how often FollowJournal looks for new lines.
const FollowInterval = 200 * time.Millisecond

// FollowJournal calls emit for the events of the journal, oldest first:
// the last limit ones (all if limit <= 0), then, if follow, each event
// appended afterwards, until ctx is done (then it returns nil) or emit
// returns an error (returned). It reads the journal file only, takes no
// lock and changes nothing, so it runs beside any writer, in another
// process too.
//
// Following polls the file every interval (FollowInterval if 0): a line
// is emitted once it is whole (ends with a newline); a line that does not
// parse (torn by a power loss, then ended by the next append's leading
// newline) is skipped, as Journal skips it. A journal that does not exist
// yet is waited for; one replaced by another file is read again from its
// start.
func (s *Store) FollowJournal(ctx context.Context, limit int, follow bool, interval time.Duration, emit func(Event) error) error {
	if interval <= 0 {
		interval = FollowInterval
	}
	j := &journalReader{path: s.state(journalName)}
	defer j.close()
	// What is there now: the last limit events.
	var evs []Event
	if err := j.read(func(ev Event) error {
		evs = append(evs, ev)
		if limit > 0 && len(evs) > 2*limit {
			evs = append(evs[:0], evs[len(evs)-limit:]...)
		}
		return nil
	}); err != nil {
		return err
	}
	if limit > 0 && len(evs) > limit {
		evs = evs[len(evs)-limit:]
	}
	for _, ev := range evs {
		if err := emit(ev); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := j.read(emit); err != nil {
			return err
		}
	}
}

// journalReader reads the whole lines appended to a journal since its
// last read.
type journalReader struct {
	path    string
	f       *os.File // nil: not open (not there yet, or replaced)
	off     int64    // read up to here
	pending []byte   // a line not ended yet
	buf     []byte
}

func (j *journalReader) close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// read calls emit for each event on the whole lines added since the last
// read.
func (j *journalReader) read(emit func(Event) error) error {
	if j.f != nil && replaced(j.f, j.path) {
		j.close()
	}
	if j.f == nil {
		f, err := os.Open(j.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("journal %s: %w", j.path, err)
		}
		j.f, j.off, j.pending = f, 0, nil
	}
	if j.buf == nil {
		j.buf = make([]byte, 64<<10)
	}
	for {
		n, err := j.f.ReadAt(j.buf, j.off)
		j.off += int64(n)
		j.pending = append(j.pending, j.buf[:n]...)
		for {
			i := bytes.IndexByte(j.pending, '\n')
			if i < 0 {
				break
			}
			line := j.pending[:i]
			j.pending = j.pending[i+1:]
			var ev Event
			if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &ev) != nil {
				continue
			}
			if err := emit(ev); err != nil {
				return err
			}
		}
		if len(j.pending) == 0 {
			j.pending = nil // let a long buffer go
		}
		switch {
		case errors.Is(err, io.EOF) || (err == nil && n == 0):
			return nil
		case err != nil:
			return fmt.Errorf("journal %s: %w", j.path, err)
		}
	}
}

// replaced reports whether path no longer names the file f has open.
func replaced(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return true
	}
	b, err := os.Stat(path)
	if err != nil {
		return true
	}
	return !os.SameFile(a, b)
}

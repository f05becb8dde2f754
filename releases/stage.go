package releases

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/manifest"
)

// NextID allocates a new release id. The counter is written durably before
// the id is returned, so the id is never handed out again, whatever happens
// to the caller. It requires the lock.
func (s *Store) NextID() (string, error) {
	if err := s.checkLocked(); err != nil {
		return "", err
	}
	n, err := s.maxSeenID()
	if err != nil {
		return "", err
	}
	n++
	c, ok, err := s.readNextID()
	if err != nil {
		return "", err
	}
	if !ok {
		// Missing, empty or garbage: rebuilt from the directories and
		// the journal, so no id is ever reused.
		if c, err = s.rebuiltNextID(); err != nil {
			return "", err
		}
	}
	n = max(n, c)
	if err := fsatomic.WriteFile(s.state(nextIDName), []byte(strconv.FormatInt(n+1, 10)+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("allocating release id: %w", err)
	}
	return FormatID(n), nil
}

// reserveSeen makes next-id greater than every id of a tree recovery may
// delete (releases/ and staging/). Records and manifests are written after
// their id was reserved, so they need no scan here; NextID scans them too.
// It runs on every lock, so it reads only those two directories.
func (s *Store) reserveSeen() error {
	hi, err := s.maxIDIn(filepath.Join(s.Root, ReleasesDir), s.state(stagingDir))
	if err != nil || hi == 0 {
		return err
	}
	c, ok, err := s.readNextID()
	if err != nil {
		return err
	}
	if ok && c > hi {
		return nil
	}
	if !ok {
		if c, err = s.rebuiltNextID(); err != nil {
			return err
		}
		hi = max(hi, c-1)
	}
	return fsatomic.WriteFile(s.state(nextIDName), []byte(strconv.FormatInt(hi+1, 10)+"\n"), 0o644)
}

// maxSeenID is the highest id with a tree, a record, a manifest or a
// staging directory: a second line of defence behind next-id.
func (s *Store) maxSeenID() (int64, error) {
	return s.maxIDIn(filepath.Join(s.Root, ReleasesDir), s.state(recordsDir), s.state(stagingDir), s.state(manifestsDir))
}

// maxIDIn returns the highest vN among the entries (vN or vN.json) of dirs.
func (s *Store) maxIDIn(dirs ...string) (int64, error) {
	var hi int64
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
		for _, e := range ents {
			name := strings.TrimSuffix(e.Name(), ".json")
			if n, ok := ParseID(name); ok && n > hi {
				hi = n
			}
		}
	}
	return hi, nil
}

// Staging is a release being built under state/staging/ID.
type Staging struct {
	ID  string
	Dir string // absolute path of the tree being built
	s   *Store
}

// NewStaging allocates an id and creates its empty staging directory. It
// requires the lock.
func (s *Store) NewStaging() (*Staging, error) {
	id, err := s.NextID()
	if err != nil {
		return nil, err
	}
	dir := s.state(stagingDir, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("staging %s: %w", id, err)
	}
	return &Staging{ID: id, Dir: dir, s: s}, nil
}

// NewDraft creates an empty staging directory without allocating an id,
// for a tree that may never become a release (a dry run, an artifact
// equal to the live release). Number gives it an id; Commit and Discard
// number it first, Drop removes it and records nothing. A draft left by
// a killed process is removed by the next writer's recovery, recording
// nothing: no id was used. It requires the lock.
func (s *Store) NewDraft() (*Staging, error) {
	if err := s.checkLocked(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(s.state(stagingDir), "draft-")
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	// As NewStaging's: served once committed, whatever the umask.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("staging: %w", err)
	}
	return &Staging{Dir: dir, s: s}, nil
}

// Number allocates the id of a draft (see NewDraft); it does nothing if
// st has one. It requires the lock.
func (st *Staging) Number() error {
	if st.ID != "" {
		return nil
	}
	id, err := st.s.NextID()
	if err != nil {
		return err
	}
	st.ID = id
	return nil
}

// Drop removes the staging tree and records nothing: for a draft (no id
// used) that is not to become a release. It is safe to call after Commit
// (it then does nothing).
func (st *Staging) Drop() error {
	if st.Dir == "" {
		return nil
	}
	err := removeTree(st.Dir)
	st.Dir = ""
	return err
}

// Discard removes the staging tree (after a failure) and records the
// failure: the id (allocated now for a draft) stays used, with a record
// of status st (failed or rejected) and the error, and a journal event.
// It is safe to call after Commit (it then does nothing).
func (st *Staging) Discard(status Status, rec Record, cause error) error {
	if st.Dir == "" {
		return nil
	}
	nerr := st.Number()
	err := removeTree(st.Dir)
	st.Dir = ""
	if nerr != nil {
		return errors.Join(err, nerr)
	}
	st.Dir = ""
	rec.ID = st.ID
	rec.Status = status
	if cause != nil {
		rec.Error = cause.Error()
	}
	if rec.Created.IsZero() {
		rec.Created = time.Now().UTC()
	}
	if perr := st.s.PutRecord(&rec); perr != nil && err == nil {
		err = perr
	}
	ev := EvFailed
	if status == StatusRejected {
		ev = EvRejected
	}
	if jerr := st.s.Append(Event{Event: ev, Release: st.ID, Source: rec.Source.Spec, SHA256: rec.Source.SHA256,
		Provenance: rec.Provenance, Who: rec.Who, Outcome: "error", Error: rec.Error}); jerr != nil && err == nil {
		err = jerr
	}
	return err
}

// Commit makes the staged tree a release: it makes the tree's data durable
// with one syncfs(2), renames it to releases/ID (atomic), fsyncs releases/,
// then writes the manifest and the record (status staged) and journals it.
// If Commit fails, the tree is removed and the id is recorded as failed.
func (st *Staging) Commit(rec Record, m *manifest.Manifest) error {
	s := st.s
	if err := s.checkLocked(); err != nil {
		return err
	}
	fail := func(err error) error {
		st.Discard(StatusFailed, rec, err)
		return err
	}
	if err := st.Number(); err != nil {
		return fail(err)
	}
	if err := syncfs(st.Dir); err != nil {
		return fail(fmt.Errorf("syncfs %s: %w", st.Dir, err))
	}
	// The manifest goes first: a tree in releases/ without a record is a
	// leftover, but a record must never point at a missing manifest.
	if err := s.PutManifest(st.ID, m); err != nil {
		return fail(err)
	}
	dst := s.Dir(st.ID)
	if err := os.Rename(st.Dir, dst); err != nil {
		return fail(fmt.Errorf("moving %s into releases/: %w", st.ID, err))
	}
	st.Dir = ""
	if err := fsatomic.SyncDir(filepath.Join(s.Root, ReleasesDir)); err != nil {
		st.Dir = dst
		return fail(err)
	}
	rec.ID = st.ID
	rec.Status = StatusStaged
	if rec.Created.IsZero() {
		rec.Created = time.Now().UTC()
	}
	rec.Files, rec.Bytes = m.Totals()
	if err := s.PutRecord(&rec); err != nil {
		st.Dir = dst
		return fail(err)
	}
	return s.Append(Event{Event: EvStaged, Release: st.ID, Source: rec.Source.Spec, SHA256: rec.Source.SHA256,
		Provenance: rec.Provenance, Who: rec.Who,
		Detail: fmt.Sprintf("%d files, %d bytes, %d hardlinked", rec.Files, rec.Bytes, rec.LinkedFiles)})
}

func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// removeTree deletes a tree whose directories may be read-only.
func removeTree(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

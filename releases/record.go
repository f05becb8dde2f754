package releases

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/example/release-agent/internal/jsonlite"
	"github.com/example/release-agent/manifest"
)

// SourceInfo describes the artifact a release was made from. It is the
// same type as ingest.Info (an alias of an unnamed struct with identical
// fields and tags), so values convert in both directions without a
// conversion, while this package, public and the lowest layer of the
// store, does not depend on the extraction machinery behind package
// ingest (archives, compression): the store's readers need none of it.
type SourceInfo = struct {
	Spec   string            `json:"spec"`             // as given by the user, credentials never included
	Kind   string            `json:"kind"`             // "dir", "tar", "tar.gz", "tar.zst", "zip", "s3-object", "s3-prefix"
	SHA256 string            `json:"sha256,omitempty"` // of the artifact file/object, when there is one
	Size   int64             `json:"size,omitempty"`   // bytes read from the source
	Meta   map[string]string `json:"meta,omitempty"`   // e.g. etag, version_id, x-amz-meta-git-sha
}

// Status of a release id.
type Status string

const (
	// Staged: the tree is complete in releases/ and may be activated.
	StatusStaged Status = "staged"
	// Failed: staging failed (bad archive, disk full, ...); no tree.
	StatusFailed Status = "failed"
	// Rejected: validation rejected the staged tree; no tree, report kept.
	StatusRejected Status = "rejected"
	// Pruned: the tree was removed by prune; the record stays.
	StatusPruned Status = "pruned"
)

// Record is what the store knows of one release id. It is written
// atomically (rename) and read without locks.
type Record struct {
	ID      string     `json:"id"`
	Status  Status     `json:"status"`
	Created time.Time  `json:"created"`
	Source  SourceInfo `json:"source"`
	// Provenance: commit, message and labels of the build, if known.
	Provenance *Provenance `json:"provenance,omitempty"`
	Who        Who         `json:"who"`
	// Files and Bytes count the release's own regular files.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// LinkedFiles/LinkedBytes of them were hardlinked from the release that
	// was live when this one was staged (no new disk space).
	LinkedFiles int   `json:"linked_files"`
	LinkedBytes int64 `json:"linked_bytes"`
	Hashed      bool  `json:"hashed"`
	Validated   bool  `json:"validated"`
	Pinned      bool  `json:"pinned"`
	// Bad is set when the release was rolled back from (the reason); a
	// rollback never returns to a bad release, an explicit activate does
	// and clears it.
	Bad       string     `json:"bad,omitempty"`
	Error     string     `json:"error,omitempty"` // for failed/rejected
	Activated *time.Time `json:"last_activated,omitempty"`

	// Origin is what an adopted release was called by the tool that made
	// it ("capistrano:20250102120000", "deployer:3", "directory:current");
	// empty for releases this store staged (see Adopt).
	Origin string `json:"origin,omitempty"`
}

// Live reports whether the record has a tree that can be activated.
func (r *Record) Live() bool { return r.Status == StatusStaged }

func (s *Store) recordPath(id string) string { return s.state(recordsDir, id+".json") }

// Record reads the record of id, with its activation time and bad mark
// from the live state. A missing record wraps ErrNoRelease, one that does
// not parse is a *DamagedError.
func (s *Store) Record(id string) (*Record, error) {
	if err := CheckID(id); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoRelease, err)
	}
	ls, err := s.loadLive(nil)
	if err != nil {
		return nil, err
	}
	return s.record(id, ls)
}

// record reads the record of id and merges ls into it.
func (s *Store) record(id string, ls *liveState) (*Record, error) {
	if err := CheckID(id); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoRelease, err)
	}
	var r Record
	path := s.recordPath(id)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (in %s)", ErrNoRelease, id, s.Root)
	}
	if err != nil {
		return nil, err
	}
	if err := unmarshal(b, &r, decodeRecord); err != nil {
		return nil, &DamagedError{ID: id, Path: path, Err: err}
	}
	if r.ID != id || r.Status == "" {
		return nil, &DamagedError{ID: id, Path: path, Err: fmt.Errorf("id %q, status %q", r.ID, r.Status)}
	}
	ls.merge(&r)
	return &r, nil
}

// PutRecord writes r atomically and durably. It requires the lock. The
// activation time and bad mark in r are written too, but the live state's
// values take precedence while it has them (see "The live state").
func (s *Store) PutRecord(r *Record) error {
	if err := s.checkLocked(); err != nil {
		return err
	}
	return writeJSONAtomic(s.recordPath(r.ID), r)
}

// Records returns every record, newest id first. A record that does not
// parse is listed with status damaged and the parse error in Error, and
// what RebuildRecord finds for the rest: one damaged file never hides
// the others.
func (s *Store) Records() ([]*Record, error) {
	ents, err := os.ReadDir(s.state(recordsDir))
	if err != nil {
		return nil, err
	}
	ls, err := s.loadLive(nil)
	if err != nil {
		return nil, err
	}
	var out []*Record
	var evs []Event // read once, for damaged records
	for _, e := range ents {
		name := e.Name()
		if filepath.Ext(name) != ".json" {
			continue
		}
		id := name[:len(name)-5]
		if _, ok := ParseID(id); !ok {
			continue
		}
		r, err := s.record(id, ls)
		var de *DamagedError
		if errors.As(err, &de) {
			if evs == nil {
				evs, _, _ = s.Journal(0)
				evs = append(evs, Event{}) // not nil: read
			}
			if r, _ = s.rebuildRecord(id, ls, evs); r == nil {
				r = &Record{ID: id}
			}
			r.Status, r.Error = StatusDamaged, de.Error()
		} else if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Record) int {
		x, _ := ParseID(a.ID)
		y, _ := ParseID(b.ID)
		return int(y - x)
	})
	return out, nil
}

// Manifest reads the manifest of id.
func (s *Store) Manifest(id string) (*manifest.Manifest, error) {
	if err := CheckID(id); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoRelease, err)
	}
	var m manifest.Manifest
	err := readJSON(s.state(manifestsDir, id+".json"), &m)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no manifest for %s", ErrNoRelease, id)
	}
	return &m, err
}

// PutManifest writes the manifest of id. It requires the lock.
func (s *Store) PutManifest(id string, m *manifest.Manifest) error {
	if err := s.checkLocked(); err != nil {
		return err
	}
	return writeJSONAtomic(s.state(manifestsDir, id+".json"), m)
}

// PutExtra stores a JSON document kind ("report", "hashes") of id beside
// its record. It requires the lock.
func (s *Store) PutExtra(id, kind string, v any) error {
	if err := s.checkLocked(); err != nil {
		return err
	}
	return writeJSONAtomic(s.state(reportsDir, id+"."+kind+".json"), v)
}

// Extra reads a document stored with PutExtra into v.
func (s *Store) Extra(id, kind string, v any) error {
	return s.readExtra(id, kind, func(path string) error { return readJSON(path, v) })
}

// ExtraFast is s.Extra(id, kind, v) decoding with fast when the document
// has the plain form fast handles, with encoding/json otherwise: the same
// result either way, without reflection in the common case (see package
// jsonlite). v must be zero.
func ExtraFast[T any](s *Store, id, kind string, v *T, fast func(*jsonlite.Reader, *T)) error {
	return s.readExtra(id, kind, func(path string) error { return readFast(path, v, fast) })
}

// readExtra checks id and calls read with the path of its extra of that
// kind; a missing file wraps ErrNoRelease.
func (s *Store) readExtra(id, kind string, read func(path string) error) error {
	if err := CheckID(id); err != nil {
		return fmt.Errorf("%w: %v", ErrNoRelease, err)
	}
	err := read(s.state(reportsDir, id+"."+kind+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no %s for %s", ErrNoRelease, kind, id)
	}
	return err
}

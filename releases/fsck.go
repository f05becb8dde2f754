package releases

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/manifest"
)

// Problem is one thing Fsck found wrong with the store.
type Problem struct {
	// Kind: "current", "canary", "record", "tree", "manifest", "file-missing",
	// "file-extra", "file-changed", "journal", "leftover", "next-id".
	Kind    string `json:"kind"`
	Release string `json:"release,omitempty"`
	// Path is relative to the root.
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	// Repaired says what --repair did; empty if it did nothing.
	Repaired string `json:"repaired,omitempty"`
}

// FsckOptions tune Fsck.
type FsckOptions struct {
	// Repair fixes what can be fixed: rebuilds next-id and damaged
	// records, removes leftovers. It requires the lock.
	Repair bool
	// Full also compares every file's sha256 with the manifest.
	Full bool
	Who  Who
}

// Fsck checks the whole store and returns one Problem per thing wrong:
// current is a relative symlink to releases/vN, a real directory; every
// record parses, and a staged record's tree matches its manifest (missing,
// extra or resized files; content too with Full); every trees in releases/
// has a record; the journal parses (a torn last line is fine); no
// leftovers (staging or trash trees, temporary files of package fsatomic);
// next-id is above every id in use. With Repair (under the lock) it
// repairs what it can, saying what it did in the problem's Repaired. It
// reads trees and files without changing them otherwise.
func (s *Store) Fsck(ctx context.Context, o FsckOptions) ([]Problem, error) {
	if o.Repair {
		if err := s.checkLocked(); err != nil {
			return nil, err
		}
	}
	var ps []Problem
	add := func(p Problem) { ps = append(ps, p) }

	// The journal: every complete line parses.
	evs, err := s.fsckJournal(add)
	if err != nil {
		return nil, err
	}
	ls, err := s.loadLive(nil)
	if err != nil {
		return nil, err
	}

	// current, canary and the cohorts.
	cur := s.fsckCurrent(add)
	s.fsckCanary(add)

	// Records, and the trees of staged releases.
	recorded := map[string]bool{}
	ents, err := os.ReadDir(s.state(recordsDir))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return ps, err
		}
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if _, valid := ParseID(id); !ok || !valid {
			continue
		}
		recorded[id] = true
		r, err := s.record(id, ls)
		var de *DamagedError
		if errors.As(err, &de) {
			p := Problem{Kind: "record", Release: id, Path: s.rel(de.Path), Message: fmt.Sprintf("record of %s does not parse: %v", id, de.Err)}
			rb, rerr := s.rebuildRecord(id, ls, evs)
			switch {
			case rerr != nil:
				p.Message += "; " + rerr.Error()
			case o.Repair:
				if werr := s.PutRecord(rb); werr != nil {
					p.Message += "; rebuilding it failed: " + werr.Error()
				} else {
					p.Repaired = fmt.Sprintf("rebuilt from the manifest, tree and journal (status %s, %d files)", rb.Status, rb.Files)
				}
			}
			add(p)
			r = rb
		} else if err != nil {
			add(Problem{Kind: "record", Release: id, Message: err.Error()})
			continue
		}
		if r == nil || !r.Live() {
			continue
		}
		s.fsckTree(ctx, id, id == cur, o.Full, add)
	}

	// Trees without a record, and other entries of releases/.
	rels := filepath.Join(s.Root, ReleasesDir)
	ents, _ = os.ReadDir(rels)
	for _, e := range ents {
		id := e.Name()
		if _, ok := ParseID(id); ok && !recorded[id] {
			add(Problem{Kind: "tree", Release: id, Path: ReleasesDir + "/" + id,
				Message: fmt.Sprintf("tree %s has no record (a leftover of an interrupted deploy; the next recovery removes it, or remove it by hand)", id)})
		}
	}

	// Leftovers.
	for _, d := range []string{stagingDir, trashDir} {
		ents, _ := os.ReadDir(s.state(d))
		for _, e := range ents {
			p := Problem{Kind: "leftover", Path: s.rel(s.state(d, e.Name())), Message: fmt.Sprintf("%s tree %s of an interrupted run", d, e.Name())}
			if o.Repair {
				if err := s.removeLeftover(d, e.Name(), o.Who); err != nil {
					p.Message += "; removing it failed: " + err.Error()
				} else {
					p.Repaired = "removed"
				}
			}
			add(p)
		}
	}
	for _, d := range s.tempDirs() {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if !fsatomic.IsTemp(e.Name()) && !strings.HasPrefix(e.Name(), ".tmp-") {
				continue
			}
			full := filepath.Join(d, e.Name())
			p := Problem{Kind: "leftover", Path: s.rel(full), Message: "temporary file of an interrupted write"}
			if o.Repair {
				if err := removeTree(full); err != nil {
					p.Message += "; removing it failed: " + err.Error()
				} else {
					p.Repaired = "removed"
				}
			}
			add(p)
		}
	}

	// next-id.
	if err := s.fsckNextID(o.Repair, add); err != nil {
		return ps, err
	}
	return ps, nil
}

// rel is p relative to the root.
func (s *Store) rel(p string) string {
	if r, err := filepath.Rel(s.Root, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}

// fsckJournal reports complete journal lines that do not parse (a torn
// last line, without its newline, is what a power loss leaves and is
// fine) and returns the events.
func (s *Store) fsckJournal(add func(Problem)) ([]Event, error) {
	b, err := os.ReadFile(s.state(journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var evs []Event
	for n := 1; len(b) > 0; n++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break // a torn last line
		}
		line := b[:i]
		b = b[i+1:]
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			add(Problem{Kind: "journal", Path: StateDir + "/" + journalName, Message: fmt.Sprintf("line %d does not parse: %v", n, err)})
			continue
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// fsckCurrent checks that current, if it exists, is a relative symlink to
// releases/vN, a real directory, and returns vN.
func (s *Store) fsckCurrent(add func(Problem)) string {
	p := Problem{Kind: "current", Path: CurrentName}
	fi, err := os.Lstat(s.CurrentPath())
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		p.Message = err.Error()
		add(p)
		return ""
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		p.Message = "current is not a symlink"
		add(p)
		return ""
	}
	t, err := os.Readlink(s.CurrentPath())
	if err != nil {
		p.Message = err.Error()
		add(p)
		return ""
	}
	id := filepath.Base(t)
	if _, ok := ParseID(id); !ok || filepath.IsAbs(t) || filepath.ToSlash(filepath.Dir(t)) != ReleasesDir {
		p.Message = fmt.Sprintf("current points to %q, not %s/vN", t, ReleasesDir)
		add(p)
		return ""
	}
	if fi, err := os.Lstat(s.Dir(id)); err != nil || !fi.IsDir() {
		p.Release = id
		p.Message = fmt.Sprintf("current points to %s, which is missing or not a directory: the site is down; `releasectl rollback` or `activate` a healthy release", t)
		add(p)
	}
	return id
}

// fsckCanary checks ROOT/canary (a symlink to releases/vN with a tree,
// like current) and ROOT/cohorts (only links 00 to 99, each to ../current
// or ../canary). Either may be missing: they are made by the next switch.
func (s *Store) fsckCanary(add func(Problem)) {
	if t, err := os.Readlink(s.canaryPath()); err == nil {
		id, ok := strings.CutPrefix(t, ReleasesDir+"/")
		if _, valid := ParseID(id); !ok || !valid {
			add(Problem{Kind: "canary", Path: CanaryName, Message: fmt.Sprintf("canary points to %q, not %s/vN", t, ReleasesDir)})
		} else if fi, err := os.Lstat(s.Dir(id)); err != nil || !fi.IsDir() {
			add(Problem{Kind: "canary", Path: CanaryName, Release: id, Message: fmt.Sprintf("canary points to %s, which is missing or not a directory: the canary's clients get errors; `releasectl abort`", t)})
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		add(Problem{Kind: "canary", Path: CanaryName, Message: fmt.Sprintf("canary is not a symlink: %v", err)})
	}
	ents, err := os.ReadDir(filepath.Join(s.Root, CohortsDir))
	if err != nil {
		return
	}
	seen := 0
	for _, e := range ents {
		path := CohortsDir + "/" + e.Name()
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 0 || n >= Cohorts || len(e.Name()) != 2 {
			if !fsatomic.IsTemp(e.Name()) && !strings.HasPrefix(e.Name(), ".tmp-") {
				add(Problem{Kind: "canary", Path: path, Message: "not a cohort link (00 to 99)"})
			}
			continue
		}
		seen++
		t, err := os.Readlink(filepath.Join(s.Root, path))
		if err != nil || (t != "../"+CurrentName && t != "../"+CanaryName) {
			add(Problem{Kind: "canary", Path: path, Message: fmt.Sprintf("cohort link must point to ../current or ../canary, not %q", t)})
		}
	}
	if seen != Cohorts {
		add(Problem{Kind: "canary", Path: CohortsDir, Message: fmt.Sprintf("%d of %d cohort links: the clients of the missing buckets get errors; the next switch makes them", seen, Cohorts)})
	}
}

// fsckTree compares the tree of staged release id with its manifest.
func (s *Store) fsckTree(ctx context.Context, id string, current, full bool, add func(Problem)) {
	dir := s.Dir(id)
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		msg := fmt.Sprintf("%s is staged but its tree is missing or not a directory", id)
		if current {
			msg += " (it is current: the site is down; `releasectl rollback` or `activate` a healthy release)"
		}
		add(Problem{Kind: "tree", Release: id, Path: ReleasesDir + "/" + id, Message: msg})
		return
	}
	m, err := s.Manifest(id)
	if err != nil {
		add(Problem{Kind: "manifest", Release: id, Path: StateDir + "/" + manifestsDir + "/" + id + ".json", Message: err.Error()})
		return
	}
	var carried []string
	s.Extra(id, "carried", &carried)
	isCarried := map[string]bool{}
	for _, p := range carried {
		isCarried[p] = true
	}
	want := make(map[string]*manifest.Entry, len(m.Entries))
	for i := range m.Entries {
		want[m.Entries[i].Path] = &m.Entries[i]
	}
	seen := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		path := ReleasesDir + "/" + id + "/" + rel
		e := want[rel]
		if e == nil {
			if !isCarried[rel] {
				add(Problem{Kind: "file-extra", Release: id, Path: path, Message: "not in the manifest"})
			}
			return nil
		}
		seen[rel] = true
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if e.IsSymlink() {
			if t, err := os.Readlink(p); err != nil || t != e.Link {
				add(Problem{Kind: "file-changed", Release: id, Path: path, Message: fmt.Sprintf("want a symlink to %q", e.Link)})
			}
			return nil
		}
		if !fi.Mode().IsRegular() || fi.Size() != e.Size {
			add(Problem{Kind: "file-changed", Release: id, Path: path, Message: fmt.Sprintf("%s of %d bytes, the manifest says a file of %d", fi.Mode().Type(), fi.Size(), e.Size)})
			return nil
		}
		if full && e.SHA256 != "" {
			if sum, err := fileSHA256(p); err != nil || sum != e.SHA256 {
				add(Problem{Kind: "file-changed", Release: id, Path: path, Message: "content differs from the manifest (sha256)"})
			}
		}
		return nil
	})
	for _, e := range m.Entries {
		if !seen[e.Path] {
			add(Problem{Kind: "file-missing", Release: id, Path: ReleasesDir + "/" + id + "/" + e.Path, Message: "in the manifest, missing from the tree"})
		}
	}
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// removeLeftover removes the tree name of state/dir (staging or trash),
// recording a staging id without a record as failed, as recovery does.
func (s *Store) removeLeftover(dir, name string, who Who) error {
	if err := removeTree(s.state(dir, name)); err != nil {
		return err
	}
	if dir != stagingDir {
		return nil
	}
	if _, ok := ParseID(name); !ok {
		return nil
	}
	if _, err := s.record(name, nil); !errors.Is(err, ErrNoRelease) {
		return nil
	}
	rec := Record{ID: name, Status: StatusFailed, Who: who, Error: "interrupted: the deploying process died"}
	if err := s.PutRecord(&rec); err != nil {
		return err
	}
	return s.Append(Event{Event: EvFailed, Release: name, Who: who, Outcome: "error", Error: rec.Error})
}

// fsckNextID checks that next-id holds a number above every id in use
// (when any is), rebuilding it with repair.
func (s *Store) fsckNextID(repair bool, add func(Problem)) error {
	c, ok, err := s.readNextID()
	if err != nil {
		return err
	}
	want, err := s.rebuiltNextID()
	if err != nil {
		return err
	}
	p := Problem{Kind: "next-id", Path: StateDir + "/" + nextIDName}
	switch {
	case ok && c >= want:
		return nil
	case ok:
		p.Message = fmt.Sprintf("next-id is %d, but v%d is in use: it would reuse an id", c, want-1)
	case want == 1:
		return nil // an empty store
	default:
		if _, err := os.Stat(s.state(nextIDName)); errors.Is(err, fs.ErrNotExist) {
			p.Message = "next-id is missing"
		} else {
			p.Message = "next-id is empty or not a number"
		}
	}
	if repair {
		if err := fsatomic.WriteFile(s.state(nextIDName), []byte(strconv.FormatInt(want, 10)+"\n"), 0o644); err != nil {
			p.Message += "; rebuilding it failed: " + err.Error()
		} else {
			p.Repaired = fmt.Sprintf("rebuilt from the releases, records, staging and journal: %d", want)
		}
	}
	add(p)
	return nil
}

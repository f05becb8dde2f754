// Package storecheck verifies the invariants of a release store that every
// crash test relies on:
//
//   - current, if present, is a relative symlink to releases/vN, vN has a
//     record with status staged, and every file of vN matches its manifest
//     (path, size, sha256, mode; no file missing, none extra except hashed
//     assets listed as carried over on a later switch);
//   - every line of the journal parses;
//   - next-id is greater than every id that has a record, a manifest or a
//     tree, so no id can be reused;
//   - no tree in releases/ lacks a record, and no temporary file of
//     package fsatomic is left in ROOT, releases/ or state/ (after
//     recovery).
package storecheck

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/releases"
)

// Options of Check.
type Options struct {
	// AfterRecovery also requires that no leftovers remain (staging trees,
	// unrecorded release trees).
	AfterRecovery bool
}

// Check returns every violated invariant of the store at root, joined.
func Check(root string, o Options) error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	s, err := releases.Open(root)
	if err != nil {
		return err
	}
	cur, err := s.Current()
	if err != nil {
		bad("current: %v", err)
	}
	if cur != "" {
		if err := CheckRelease(s, cur); err != nil {
			bad("current %s: %w", cur, err)
		}
	}
	// journal
	if f, err := os.Open(filepath.Join(s.StateDir(), "journal.jsonl")); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 16<<20)
		n := 0
		for sc.Scan() {
			n++
			var ev releases.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				bad("journal line %d does not parse: %v", n, err)
			}
		}
		f.Close()
	}
	// ids
	var hi int64
	for _, d := range []string{filepath.Join(root, releases.ReleasesDir), filepath.Join(s.StateDir(), "records"), filepath.Join(s.StateDir(), "manifests"), filepath.Join(s.StateDir(), "staging")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if n, ok := releases.ParseID(strings.TrimSuffix(e.Name(), ".json")); ok && n > hi {
				hi = n
			}
		}
	}
	if hi > 0 {
		b, err := os.ReadFile(filepath.Join(s.StateDir(), "next-id"))
		next, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || perr != nil || next <= hi {
			bad("next-id %q is not above the highest id in use v%d (%v)", b, hi, errors.Join(err, perr))
		}
	}
	if o.AfterRecovery {
		if ents, _ := os.ReadDir(filepath.Join(s.StateDir(), "staging")); len(ents) > 0 {
			bad("staging leftovers after recovery: %d entries", len(ents))
		}
		ents, _ := os.ReadDir(filepath.Join(root, releases.ReleasesDir))
		for _, e := range ents {
			if _, ok := releases.ParseID(e.Name()); !ok {
				bad("stray entry releases/%s", e.Name())
				continue
			}
			if r, err := s.Record(e.Name()); err != nil || !r.Live() {
				bad("releases/%s has no staged record (%v)", e.Name(), err)
			}
		}
		for _, d := range []string{root, filepath.Join(root, releases.ReleasesDir), s.StateDir(),
			filepath.Join(s.StateDir(), "records"), filepath.Join(s.StateDir(), "manifests"), filepath.Join(s.StateDir(), "reports")} {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				if fsatomic.IsTemp(e.Name()) {
					bad("temporary file %s left after recovery", filepath.Join(d, e.Name()))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// CheckRelease verifies that the tree of id matches its manifest.
func CheckRelease(s *releases.Store, id string) error {
	rec, err := s.Record(id)
	if err != nil {
		return err
	}
	if !rec.Live() {
		return fmt.Errorf("record status %s", rec.Status)
	}
	m, err := s.Manifest(id)
	if err != nil {
		return err
	}
	got, err := manifest.FromFS(os.DirFS(s.Dir(id)))
	if err != nil {
		return err
	}
	// Hashed assets linked in when current moved away from this release
	// (rollback carry-over) are listed in its "carried" extra, before they
	// are linked: they may be present or not.
	var carriedList []string
	s.Extra(id, "carried", &carriedList)
	carried := map[string]bool{}
	for _, p := range carriedList {
		carried[p] = true
	}
	want := map[string]manifest.Entry{}
	for _, e := range m.Entries {
		want[e.Path] = e
	}
	var errs []error
	seen := map[string]bool{}
	for _, g := range got.Entries {
		seen[g.Path] = true
		w, ok := want[g.Path]
		if !ok && carried[g.Path] {
			continue
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not in the manifest", g.Path))
			continue
		}
		if g.SHA256 != w.SHA256 || g.Size != w.Size || g.Link != w.Link {
			errs = append(errs, fmt.Errorf("%s: content differs from the manifest", g.Path))
		}
		if !w.IsSymlink() && g.Mode != w.Mode {
			errs = append(errs, fmt.Errorf("%s: mode %v, manifest %v", g.Path, g.Mode, w.Mode))
		}
	}
	for p := range want {
		if !seen[p] {
			errs = append(errs, fmt.Errorf("%s: in the manifest, missing on disk", p))
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("and %d more", len(errs)-10))
	}
	return errors.Join(errs...)
}

package releases

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/symlink"
)

// # Adopting a root another tool managed
//
// A host deployed by Capistrano or Deployer has ROOT/releases/NAME/ trees
// (NAME a timestamp or a number) and ROOT/current, a symlink to one of
// them; a host served from a plain directory has ROOT/current/ itself.
// Open refuses both with a *NotAdoptedError (nothing is created), so no
// command half-imports such a root silently; Adopt imports it:
//
//   - Each releases/NAME/ becomes a release vN, in name order (numbers by
//     value), by rename(2): no byte is copied. Its record keeps the
//     original name (Origin, "capistrano:NAME"), also shown as its source.
//   - The live one (current's target) cannot move while it is served: it
//     is cloned with hardlinks (no data copied) into releases/vN, then
//     current is switched to releases/vN by rename(2) of a fresh symlink
//     (symlink.Replace), the same content throughout; then the old tree
//     is deleted (its files live on as vN's hardlinks).
//   - A plain current/ directory is cloned the same way, and
//     renameat2(RENAME_EXCHANGE) swaps it with a symlink to releases/vN
//     in one step: every lookup of ROOT/current finds the directory or
//     the link, never nothing. The old directory, left at the link's
//     temporary name, is then deleted.
//   - A file identical (path, size, mode, sha256) to the one of the
//     release imported just before becomes a hardlink of it, as unchanged
//     files of staged releases are: the imported releases use the disk
//     about once plus their changes.
//   - Files become read-only like every release's (the hardlinked live
//     files too: they are the same inodes). Symlinks inside a tree are
//     kept as they are and never followed; those pointing out of their
//     release (Deployer's shared/ links) are listed in the report.
//   - Releases older than the live one (by name) and the live one enter
//     the rollback order ("adopted" journal lines): `rollback` goes back
//     to the release before the live one, as `cap deploy:rollback` would.
//     Newer ones (left by a rollback of the other tool) are imported as
//     staged only ("staged" lines), reachable by `rollback --to vN`.
//
// # Crash safety
//
// Adopt runs under the store's lock. Before it changes anything it writes
// a plan, state/adopt/plan.json (durably), naming each tree and the id it
// gets (ids reserved in next-id first). Each tree is then imported in this
// order: manifest, files made read-only, syncfs, record (durable), rename
// into releases/vN and fsync of releases/, journal line. A kill at any
// point leaves current serving what it served (only the final switch
// changes it, atomically) and the plan in place, which makes Open refuse
// every other command with "run releasectl adopt to finish". Running
// Adopt again resumes from the plan: every step checks whether it is
// done (a record written, a tree in place, a journal line present,
// current switched, an old tree gone), so a rerun is idempotent.
// Recovery (the next Lock after a kill) rolls forward the one state that
// would break an invariant of the store, a staged record whose tree has
// not been renamed into releases/ yet, and finishes deleting the old
// plain directory; the rest waits for the rerun. The plan is removed
// last.

// ErrNotAdopted is wrapped by the error of Open on a root laid out by
// another tool (Capistrano, Deployer, a plain current/ directory) or
// holding an interrupted adoption: `releasectl adopt` imports it.
var ErrNotAdopted = errors.New("release root not adopted yet")

// Layouts Adopt imports.
const (
	LayoutCapistrano = "capistrano"
	LayoutDeployer   = "deployer"
	LayoutDirectory  = "directory"
)

// NotAdoptedError describes a root Open refuses (see ErrNotAdopted).
type NotAdoptedError struct {
	Root        string
	Layout      string   // LayoutCapistrano, LayoutDeployer or LayoutDirectory
	Live        string   // the entry of releases/ current points to, if any
	Names       []string // the entries of releases/ to import
	Interrupted bool     // state/adopt/plan.json exists
}

func (e *NotAdoptedError) Error() string {
	if e.Interrupted {
		return fmt.Sprintf("%s: an adoption of this root was interrupted; finish it with `releasectl --root %s adopt` (current still serves what it served)", e.Root, e.Root)
	}
	var what string
	switch e.Layout {
	case LayoutDirectory:
		what = "current/ is a plain directory, not a symlink to a release"
	default:
		what = fmt.Sprintf("it has a %s layout (%d releases in releases/", e.Layout, len(e.Names))
		if e.Live != "" {
			what += ", current -> releases/" + e.Live
		}
		what += ")"
	}
	return fmt.Sprintf("%s is not a release store yet: %s; import it with `releasectl --root %s adopt` (the site keeps serving throughout; --dry-run shows the plan). Nothing was changed", e.Root, what, e.Root)
}

func (e *NotAdoptedError) Unwrap() error { return ErrNotAdopted }

// Names inside ROOT and state/ used by adoption.
const (
	adoptDir     = "adopt"
	adoptPlan    = "plan.json"
	adoptOldName = ".adopt-old-current" // the plain directory once exchanged
	depDir       = ".dep"               // Deployer's metadata
)

// detectForeign returns a *NotAdoptedError if root (absolute) is laid out
// by another tool or holds an interrupted adoption, nil otherwise. It
// reads at most current, state/adopt/plan.json and, only when current is
// not a store link, releases/.
func detectForeign(root string) (*NotAdoptedError, error) {
	if _, err := os.Lstat(filepath.Join(root, StateDir, adoptDir, adoptPlan)); err == nil {
		return &NotAdoptedError{Root: root, Interrupted: true}, nil
	}
	cur := filepath.Join(root, CurrentName)
	fi, err := os.Lstat(cur)
	switch {
	case err == nil && fi.IsDir():
		return &NotAdoptedError{Root: root, Layout: LayoutDirectory}, nil
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(cur)
		if err != nil {
			return nil, err
		}
		if filepath.ToSlash(filepath.Dir(t)) == ReleasesDir {
			if _, ok := ParseID(filepath.Base(t)); ok {
				return nil, nil // ours
			}
		}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	names, err := foreignReleases(root)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	e := &NotAdoptedError{Root: root, Layout: LayoutCapistrano, Names: names, Live: liveEntry(root)}
	if _, err := os.Lstat(filepath.Join(root, depDir)); err == nil {
		e.Layout = LayoutDeployer
	}
	return e, nil
}

// foreignReleases returns the directories of ROOT/releases/ that are not
// release ids (and do not start with a dot), in name order (see
// nameOrder).
func foreignReleases(root string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, ReleasesDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if _, ok := ParseID(n); ok || strings.HasPrefix(n, ".") || !e.IsDir() {
			continue
		}
		names = append(names, n)
	}
	slices.SortFunc(names, nameOrder)
	return names, nil
}

// nameOrder orders release names as the tools that made them do: two
// all-digit names (Deployer's 1, 2, ... 10, Capistrano's timestamps) by
// value, anything else byte-wise.
func nameOrder(a, b string) int {
	if allDigits(a) && allDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return len(a) - len(b)
		}
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// liveEntry returns the name NAME when ROOT/current is a symlink to
// ROOT/releases/NAME (relative, or absolute naming this root's
// releases/), "" otherwise.
func liveEntry(root string) string {
	t, err := os.Readlink(filepath.Join(root, CurrentName))
	if err != nil {
		return ""
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(root, t)
	}
	t = filepath.Clean(t)
	dir, name := filepath.Split(t)
	if name == "" || name == "." || name == ".." {
		return ""
	}
	if filepath.Clean(dir) == filepath.Join(root, ReleasesDir) {
		return name
	}
	// An absolute link written under another path of the same directory
	// (a bind mount, a symlinked /var/www).
	a, err1 := os.Stat(filepath.Clean(dir))
	b, err2 := os.Stat(filepath.Join(root, ReleasesDir))
	if err1 == nil && err2 == nil && os.SameFile(a, b) {
		return name
	}
	return ""
}

// AdoptOptions tune Adopt.
type AdoptOptions struct {
	// DryRun reports the plan and changes nothing (not even creating
	// state/).
	DryRun bool
	Who    Who
	// Wait for another writer's lock (see Lock).
	Wait time.Duration
}

// AdoptedRelease is one tree Adopt imported (or would import).
type AdoptedRelease struct {
	Name   string `json:"name"` // entry of releases/, or "current" for a plain directory
	ID     string `json:"id"`
	Origin string `json:"origin"`         // "capistrano:NAME", "deployer:NAME", "directory:current"
	Live   bool   `json:"live,omitempty"` // current served it
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
	// Resumed: imported by an earlier, interrupted run.
	Resumed bool `json:"resumed,omitempty"`
}

// AdoptReport is what Adopt did (or, with DryRun, would do).
type AdoptReport struct {
	Root     string           `json:"root"`
	Layout   string           `json:"layout,omitempty"` // "" when there was nothing to adopt
	Releases []AdoptedRelease `json:"releases"`
	// Live is the release current points to afterwards.
	Live string `json:"live,omitempty"`
	// OutLinks lists the symlinks inside imported trees that point out of
	// their release ("releases/v3/storage -> ../../shared/storage"): kept
	// as they are, never followed by the store.
	OutLinks []string `json:"out_links,omitempty"`
	// Skipped lists entries of releases/ that were not imported and why.
	Skipped  []string `json:"skipped,omitempty"`
	Cleaned  []string `json:"cleaned,omitempty"` // what recovery cleaned first
	Warnings []string `json:"warnings,omitempty"`
	DryRun   bool     `json:"dry_run,omitempty"`
}

// adoptPlanDoc is state/adopt/plan.json.
type adoptPlanDoc struct {
	Layout  string       `json:"layout"`
	Entries []adoptEntry `json:"entries"` // in name order
}

type adoptEntry struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	Live bool   `json:"live,omitempty"`
	// Ordered: the release enters the rollback order (older than the
	// live one, or the live one).
	Ordered bool `json:"ordered,omitempty"`
}

func (e *adoptEntry) origin(layout string) string { return layout + ":" + e.Name }

// Adopt imports the root at root, laid out by another tool (see
// "Adopting a root another tool managed"), into a release store, under
// the store's lock, without a moment in which ROOT/current is missing or
// serves anything but what it served. It is idempotent: on a root holding
// an interrupted adoption it finishes it, on a store with nothing to
// adopt it returns a report with no releases. A tree holding anything but
// directories, regular files and symlinks is refused before anything
// changes, naming the entry.
func Adopt(ctx context.Context, root string, o AdoptOptions) (_ *AdoptReport, err error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("release root %s: %w", abs, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("release root %s: %w: not a directory", abs, ErrNotStore)
	}
	rep := &AdoptReport{Root: abs, Releases: []AdoptedRelease{}, DryRun: o.DryRun}
	fe, err := detectForeign(abs)
	if err != nil {
		return nil, err
	}
	if fe == nil {
		return rep, nil
	}
	s := &Store{Root: abs}
	if !fe.Interrupted {
		// Check every tree before anything changes.
		if err := s.adoptCheck(fe, rep); err != nil {
			return nil, err
		}
	}
	if o.DryRun {
		return rep, s.adoptPredict(fe, rep)
	}
	if err := s.makeDirs(); err != nil {
		return nil, err
	}
	lk, cleaned, err := s.Lock(ctx, o.Wait, o.Who, "adopt")
	if err != nil {
		return nil, err
	}
	defer func() {
		if errors.Is(err, errKilled) {
			lk.abandon()
		} else {
			lk.Unlock()
		}
	}()
	rep.Cleaned = cleaned
	plan, err := s.readAdoptPlan()
	if errors.Is(err, fs.ErrNotExist) {
		// Under the lock: the root may have changed since the check.
		if fe, err = detectForeign(abs); err != nil || fe == nil {
			return rep, err
		}
		plan, err = s.writeAdoptPlan(fe)
	}
	if err != nil {
		return nil, err
	}
	if err := s.reservePlan(plan); err != nil { // a resumed plan: a kill may have come before
		return nil, err
	}
	if err := failpoint("plan"); err != nil {
		return rep, err
	}
	rep.Layout = plan.Layout
	rep.OutLinks = nil
	evs, _, err := s.Journal(0)
	if err != nil {
		return nil, err
	}
	journaled := map[string]bool{}
	for _, ev := range evs {
		if ev.Event == EvAdopted || ev.Event == EvStaged {
			journaled[ev.Release] = true
		}
	}
	for i := range plan.Entries {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		e := &plan.Entries[i]
		prev := ""
		if i > 0 {
			prev = plan.Entries[i-1].ID
		}
		ar, err := s.adoptOne(plan, e, prev, journaled[e.ID], o.Who, rep)
		if err != nil {
			return rep, fmt.Errorf("adopting %s as %s: %w", e.Name, e.ID, err)
		}
		rep.Releases = append(rep.Releases, ar)
	}
	for i := range plan.Entries {
		if e := &plan.Entries[i]; e.Live {
			if err := s.adoptSwitch(plan, e, o.Who); err != nil {
				return rep, err
			}
		}
	}
	if err := failpoint("done"); err != nil {
		return rep, err
	}
	if err := os.Remove(s.state(adoptDir, adoptPlan)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rep, err
	}
	os.Remove(s.state(adoptDir, "link.tmp")) // left by a killed linkIdentical
	os.Remove(s.state(adoptDir))             // empty now; an error leaves an empty directory, harmless
	if err := fsatomic.SyncDir(s.state()); err != nil {
		return rep, err
	}
	rep.Live, _ = s.Current()
	return rep, nil
}

// adoptFailpoint, set by tests only, is called at each step of Adopt
// ("plan", "record vN", "placed vN", "switched", "journaled switch",
// "done"); when it returns true, Adopt stops there as a killed process
// would: its lock released without the clean marker, so that the next
// Lock runs recovery.
var adoptFailpoint func(step string) bool

var errKilled = errors.New("killed at a failpoint (test)")

func failpoint(step string) error {
	if adoptFailpoint != nil && adoptFailpoint(step) {
		return errKilled
	}
	return nil
}

// makeDirs creates releases/ and the state directories (see Open).
func (s *Store) makeDirs() error {
	for _, d := range []string{filepath.Join(s.Root, ReleasesDir), s.state(), s.state(recordsDir), s.state(manifestsDir), s.state(reportsDir), s.state(stagingDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("release root %s: %w", s.Root, err)
		}
	}
	return nil
}

// adoptSources returns the trees fe names: releases/NAME for each name,
// or current/ for a plain directory.
func (s *Store) adoptSources(fe *NotAdoptedError) []adoptEntry {
	if fe.Layout == LayoutDirectory {
		return []adoptEntry{{Name: CurrentName, Live: true, Ordered: true}}
	}
	var out []adoptEntry
	live := slices.Contains(fe.Names, fe.Live)
	for _, n := range fe.Names {
		e := adoptEntry{Name: n, Live: n == fe.Live}
		e.Ordered = live && nameOrder(n, fe.Live) <= 0
		out = append(out, e)
	}
	return out
}

func (s *Store) sourceDir(e *adoptEntry) string {
	if e.Name == CurrentName && e.Live {
		if fi, err := os.Lstat(s.CurrentPath()); err == nil && fi.IsDir() {
			return s.CurrentPath()
		}
		return filepath.Join(s.Root, adoptOldName)
	}
	return filepath.Join(s.Root, ReleasesDir, e.Name)
}

// adoptCheck walks every tree fe names: only directories, regular files
// and symlinks (an error naming the first other entry); it lists the
// symlinks pointing out of their release in rep.OutLinks.
func (s *Store) adoptCheck(fe *NotAdoptedError, rep *AdoptReport) error {
	rep.Layout = fe.Layout
	if fe.Layout != LayoutDirectory && fe.Live == "" {
		if t, err := os.Readlink(s.CurrentPath()); err == nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("current points to %q, not into releases/: every release is imported as staged, current is left alone", t))
		}
	}
	for _, e := range s.adoptSources(fe) {
		dir := s.sourceDir(&e)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			shown := strings.TrimPrefix(p, s.Root+"/")
			switch t := d.Type(); {
			case t.IsDir(), t.IsRegular():
			case t&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				if pointsOut(filepath.ToSlash(rel), target) {
					rep.OutLinks = append(rep.OutLinks, fmt.Sprintf("%s -> %s", shown, target))
				}
			default:
				return fmt.Errorf("%s is a %s: a release holds only directories, files and symlinks; remove it and run adopt again (nothing was changed)", shown, t.Type())
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("adopt %s: %w", s.Root, err)
		}
	}
	if fe.Layout == LayoutDirectory && len(rep.OutLinks) > 0 {
		rep.Warnings = append(rep.Warnings, "relative symlinks pointing out of current/ resolve one level deeper from releases/vN: check them after adoption")
	}
	if fe.Layout != LayoutDirectory {
		ents, _ := os.ReadDir(filepath.Join(s.Root, ReleasesDir))
		for _, d := range ents {
			if _, ok := ParseID(d.Name()); ok {
				continue
			}
			if strings.HasPrefix(d.Name(), ".") {
				rep.Skipped = append(rep.Skipped, ReleasesDir+"/"+d.Name()+" (a hidden entry)")
			} else if !d.IsDir() {
				rep.Skipped = append(rep.Skipped, ReleasesDir+"/"+d.Name()+" (not a directory)")
			}
		}
	}
	return nil
}

// pointsOut reports whether a symlink at rel (slash-separated, relative to
// its release) with target leaves the release.
func pointsOut(rel, target string) bool {
	if path.IsAbs(target) {
		return true
	}
	p := path.Clean(path.Join(path.Dir(rel), target))
	return p == ".." || strings.HasPrefix(p, "../")
}

// adoptPredict fills rep.Releases with the ids Adopt would give (without
// reserving them).
func (s *Store) adoptPredict(fe *NotAdoptedError, rep *AdoptReport) error {
	if fe.Interrupted {
		plan, err := s.readAdoptPlan()
		if err != nil {
			return err
		}
		rep.Layout = plan.Layout
		for _, e := range plan.Entries {
			rep.Releases = append(rep.Releases, AdoptedRelease{Name: e.Name, ID: e.ID, Origin: e.origin(plan.Layout), Live: e.Live})
		}
		return nil
	}
	next, err := s.peekNextID()
	if err != nil {
		return err
	}
	for _, e := range s.adoptSources(fe) {
		ar := AdoptedRelease{Name: e.Name, ID: FormatID(next), Origin: e.origin(fe.Layout), Live: e.Live}
		next++
		filepath.WalkDir(s.sourceDir(&e), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					ar.Files++
					ar.Bytes += fi.Size()
				}
			}
			return nil
		})
		rep.Releases = append(rep.Releases, ar)
	}
	return nil
}

func (s *Store) readAdoptPlan() (*adoptPlanDoc, error) {
	var p adoptPlanDoc
	if err := readJSON(s.state(adoptDir, adoptPlan), &p); err != nil {
		return nil, err
	}
	for _, e := range p.Entries {
		if _, ok := ParseID(e.ID); !ok || e.Name == "" || e.Name == "." || e.Name == ".." || strings.Contains(e.Name, "/") {
			return nil, fmt.Errorf("%s: entry %q -> %q: %w", s.state(adoptDir, adoptPlan), e.Name, e.ID, ErrDamaged)
		}
	}
	return &p, nil
}

// writeAdoptPlan reserves an id for each tree of fe and writes the plan,
// durably, before anything else changes.
//
// The ids are those NextID would hand out next; next-id is moved past
// them after the plan is durable (and again by every run that resumes
// it, see reservePlan), so a kill before the plan burns no id and the
// releases of a fresh root become v1, v2, ... in name order.
func (s *Store) writeAdoptPlan(fe *NotAdoptedError) (*adoptPlanDoc, error) {
	next, err := s.peekNextID()
	if err != nil {
		return nil, err
	}
	p := &adoptPlanDoc{Layout: fe.Layout}
	for _, e := range s.adoptSources(fe) {
		e.ID = FormatID(next)
		next++
		p.Entries = append(p.Entries, e)
	}
	if err := os.MkdirAll(s.state(adoptDir), 0o755); err != nil {
		return nil, err
	}
	if err := writeJSONAtomic(s.state(adoptDir, adoptPlan), p); err != nil {
		return nil, err
	}
	if err := fsatomic.SyncDir(s.state()); err != nil {
		return nil, err
	}
	return p, s.reservePlan(p)
}

// peekNextID returns the number NextID would allocate next, writing
// nothing.
func (s *Store) peekNextID() (int64, error) {
	hi, err := s.maxSeenID()
	if err != nil {
		return 0, err
	}
	c, ok, err := s.readNextID()
	if err != nil {
		return 0, err
	}
	if !ok {
		if c, err = s.rebuiltNextID(); err != nil {
			return 0, err
		}
	}
	return max(hi+1, c), nil
}

// reservePlan makes next-id (durably) greater than every id of plan p, so
// that no other release can ever get one of them. It requires the lock.
func (s *Store) reservePlan(p *adoptPlanDoc) error {
	var hi int64
	for _, e := range p.Entries {
		if n, ok := ParseID(e.ID); ok && n > hi {
			hi = n
		}
	}
	next, err := s.peekNextID()
	if err != nil || next > hi {
		return err
	}
	return fsatomic.WriteFile(s.state(nextIDName), []byte(strconv.FormatInt(hi+1, 10)+"\n"), 0o644)
}

// adoptOne imports one tree of the plan (see "Crash safety"), resuming
// where an earlier run stopped.
func (s *Store) adoptOne(plan *adoptPlanDoc, e *adoptEntry, prev string, journaled bool, who Who, rep *AdoptReport) (AdoptedRelease, error) {
	origin := e.origin(plan.Layout)
	ar := AdoptedRelease{Name: e.Name, ID: e.ID, Origin: origin, Live: e.Live}
	rec, err := s.record(e.ID, nil)
	switch {
	case err == nil && rec.Status == StatusStaged:
		ar.Resumed = true
	case err == nil || !errors.Is(err, ErrNoRelease):
		return ar, fmt.Errorf("%s already has a record (status %s): the plan in %s does not match the store", e.ID, statusOf(rec), s.state(adoptDir))
	default:
		rec, err = s.adoptTree(plan, e, prev, who)
		if err != nil {
			return ar, err
		}
		if err := failpoint("record " + e.ID); err != nil {
			return ar, err
		}
	}
	ar.Files, ar.Bytes = rec.Files, rec.Bytes
	if err := s.adoptPlace(e); err != nil {
		return ar, err
	}
	s.collectOutLinks(e.ID, rep)
	if err := failpoint("placed " + e.ID); err != nil {
		return ar, err
	}
	if !journaled {
		ev := Event{Event: EvStaged, Release: e.ID, Source: origin, Who: who,
			Detail: fmt.Sprintf("adopted from %s: %d files, %d bytes; newer than the live release, so not in the rollback order", origin, rec.Files, rec.Bytes)}
		if e.Ordered {
			ev.Event = EvAdopted
			ev.Detail = fmt.Sprintf("adopted from %s: %d files, %d bytes", origin, rec.Files, rec.Bytes)
		}
		if err := s.Append(ev); err != nil {
			return ar, err
		}
	}
	return ar, nil
}

func statusOf(r *Record) Status {
	if r == nil {
		return "unreadable"
	}
	return r.Status
}

// adoptTree makes the record of e: the tree to import (the old one
// itself, or for the live one a hardlinked clone under state/adopt/),
// its manifest, its files read-only and durable, then the record.
func (s *Store) adoptTree(plan *adoptPlanDoc, e *adoptEntry, prev string, who Who) (*Record, error) {
	src := s.sourceDir(e)
	fi, err := os.Lstat(src)
	if err != nil {
		return nil, err
	}
	rec := &Record{ID: e.ID, Status: StatusStaged, Created: fi.ModTime().UTC(), Who: who, Origin: e.origin(plan.Layout)}
	rec.Source.Spec, rec.Source.Kind = rec.Origin, "adopted"
	dir := src
	if e.Live {
		dir = s.state(adoptDir, e.ID)
		if err := removeTree(dir); err != nil { // a partial clone of a killed run
			return nil, err
		}
		n, bytes, err := cloneTree(src, dir)
		if err != nil {
			return nil, fmt.Errorf("hardlinking %s: %w", src, err)
		}
		rec.LinkedFiles, rec.LinkedBytes = n, bytes
	}
	m, err := manifest.FromFS(os.DirFS(dir))
	if err != nil {
		return nil, err
	}
	if prev != "" {
		n, bytes, err := s.linkIdentical(dir, m, prev)
		if err != nil {
			return nil, fmt.Errorf("hardlinking files identical in %s: %w", prev, err)
		}
		if !e.Live {
			rec.LinkedFiles, rec.LinkedBytes = n, bytes
		}
	}
	if err := readOnly(dir, m); err != nil {
		return nil, err
	}
	if err := syncfs(dir); err != nil {
		return nil, fmt.Errorf("syncfs %s: %w", dir, err)
	}
	if err := s.PutManifest(e.ID, m); err != nil {
		return nil, err
	}
	rec.Files, rec.Bytes = m.Totals()
	return rec, s.PutRecord(rec)
}

// linkIdentical replaces each regular file of dir whose path, size, mode
// and sha256 (m) are the same in release prev (its manifest) with a
// hardlink of prev's file, so that identical files of the imported
// releases use the disk once, as those of staged releases do. Each
// replacement is a rename(2) of a link made under state/adopt/ (same
// content before and after; a leftover link there is removed by the next
// call). dir must not be served. It returns the files and bytes linked.
func (s *Store) linkIdentical(dir string, m *manifest.Manifest, prev string) (files int, bytes int64, err error) {
	if s.CheckTree(prev) != nil {
		return 0, 0, nil
	}
	pm, err := s.Manifest(prev)
	if err != nil {
		return 0, 0, nil // nothing to link against
	}
	tmp := s.state(adoptDir, "link.tmp")
	for _, e := range m.Entries {
		pe := pm.Lookup(e.Path)
		if e.IsSymlink() || pe == nil || pe.IsSymlink() || pe.SHA256 != e.SHA256 || pe.Size != e.Size || pe.Mode != e.Mode {
			continue
		}
		from, to := filepath.Join(s.Dir(prev), filepath.FromSlash(e.Path)), filepath.Join(dir, filepath.FromSlash(e.Path))
		a, err1 := os.Lstat(from)
		b, err2 := os.Lstat(to)
		if err1 != nil || err2 != nil || !a.Mode().IsRegular() || !b.Mode().IsRegular() || a.Size() != e.Size {
			continue
		}
		if os.SameFile(a, b) {
			files++
			bytes += e.Size
			continue
		}
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return files, bytes, err
		}
		if err := os.Link(from, tmp); err != nil {
			return files, bytes, err
		}
		if err := os.Rename(tmp, to); err != nil {
			os.Remove(tmp)
			return files, bytes, err
		}
		files++
		bytes += e.Size
	}
	return files, bytes, nil
}

// adoptPlace renames the imported tree of e into releases/ID if it is not
// there yet, and fsyncs releases/.
func (s *Store) adoptPlace(e *adoptEntry) error {
	dst := s.Dir(e.ID)
	if _, err := os.Lstat(dst); err == nil {
		return s.CheckTree(e.ID)
	}
	src := s.sourceDir(e)
	if e.Live {
		src = s.state(adoptDir, e.ID)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("moving %s into releases/: %w", e.Name, err)
	}
	return fsatomic.SyncDir(filepath.Join(s.Root, ReleasesDir))
}

// collectOutLinks adds the symlinks of releases/id pointing out of it to
// rep.OutLinks (from its manifest).
func (s *Store) collectOutLinks(id string, rep *AdoptReport) {
	m, err := s.Manifest(id)
	if err != nil {
		return
	}
	for _, en := range m.Entries {
		if en.IsSymlink() && pointsOut(en.Path, en.Link) {
			rep.OutLinks = append(rep.OutLinks, fmt.Sprintf("%s/%s/%s -> %s", ReleasesDir, id, en.Path, en.Link))
		}
	}
}

// adoptSwitch points current at the imported live release e, unless it
// does already, journals it, and deletes the tree it was imported from.
func (s *Store) adoptSwitch(plan *adoptPlanDoc, e *adoptEntry, who Who) error {
	target := ReleasesDir + "/" + e.ID
	fi, err := os.Lstat(s.CurrentPath())
	if err != nil {
		return err
	}
	switched := false
	switch {
	case fi.IsDir():
		// A plain directory: exchange it with a symlink in one step.
		tmp := filepath.Join(s.Root, adoptOldName)
		if err := removeTree(tmp); err != nil {
			return err
		}
		if err := os.Symlink(target, tmp); err != nil {
			return err
		}
		if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, s.CurrentPath(), unix.RENAME_EXCHANGE); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("exchanging %s with a symlink to %s: %w", s.CurrentPath(), target, err)
		}
		if err := fsatomic.SyncDir(s.Root); err != nil {
			return err
		}
		switched = true
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(s.CurrentPath())
		if err != nil {
			return err
		}
		if t != target {
			if liveEntry(s.Root) != e.Name {
				return fmt.Errorf("current points to %q, no longer to releases/%s: changed during the adoption? %s is imported; activate it with `releasectl activate %s`", t, e.Name, e.ID, e.ID)
			}
			if err := symlink.Replace(s.CurrentPath(), target); err != nil {
				return err
			}
			switched = true
		}
	default:
		return &symlink.NotSymlinkError{Path: s.CurrentPath(), Mode: fi.Mode()}
	}
	if err := failpoint("switched"); err != nil {
		return err
	}
	if switched {
		origin := e.origin(plan.Layout)
		if err := s.Append(Event{Event: EvActivated, Release: e.ID, Source: origin, Who: who,
			Detail: fmt.Sprintf("adopted: current now points to %s, the same files as %s", target, origin)}); err != nil {
			return fmt.Errorf("%s is live, but recording it failed: %w", e.ID, err)
		}
	}
	if err := failpoint("journaled switch"); err != nil {
		return err
	}
	return s.removeAdopted(e)
}

// removeAdopted deletes the tree the live release e was cloned from, once
// current no longer serves it: by rename into state/trash/ (recovery
// finishes an interrupted deletion) and removal.
func (s *Store) removeAdopted(e *adoptEntry) error {
	old := filepath.Join(s.Root, ReleasesDir, e.Name)
	if e.Name == CurrentName {
		old = filepath.Join(s.Root, adoptOldName)
	}
	if _, err := os.Lstat(old); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(s.state(trashDir), 0o755); err != nil {
		return err
	}
	trash := s.state(trashDir, "adopted-"+e.ID)
	if err := removeTree(trash); err != nil {
		return err
	}
	if err := os.Rename(old, trash); err != nil {
		return err
	}
	return removeTree(trash)
}

// adoptRollForward is the part of an interrupted adoption recovery
// finishes (see "Crash safety"): trees whose staged record is written are
// moved into releases/, and the old plain directory is deleted once
// current is the symlink.
func (s *Store) adoptRollForward() []string {
	plan, err := s.readAdoptPlan()
	if err != nil {
		return nil
	}
	var did []string
	for i := range plan.Entries {
		e := &plan.Entries[i]
		if r, err := s.record(e.ID, nil); err != nil || r.Status != StatusStaged {
			continue
		}
		if _, err := os.Lstat(s.Dir(e.ID)); err == nil {
			continue
		}
		if s.adoptPlace(e) == nil {
			did = append(did, fmt.Sprintf("moved %s (adopted from %s) into releases/ (an interrupted adoption; `releasectl adopt` finishes it)", e.ID, e.origin(plan.Layout)))
		}
	}
	if fi, err := os.Lstat(s.CurrentPath()); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if fi, err := os.Lstat(filepath.Join(s.Root, adoptOldName)); err == nil && fi.IsDir() {
			if removeTree(filepath.Join(s.Root, adoptOldName)) == nil {
				did = append(did, "deleted the old current/ directory of an interrupted adoption")
			}
		}
	}
	return did
}

// cloneTree recreates src at dst (which must not exist) with directories
// made anew, regular files hardlinked and symlinks copied as links (never
// followed). It returns the files and bytes linked.
func cloneTree(src, dst string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch t := d.Type(); {
		case t.IsDir():
			return os.Mkdir(to, 0o755)
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			files++
			bytes += fi.Size()
			return os.Link(p, to)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		default:
			return fmt.Errorf("%s is a %s: not importable", p, t.Type())
		}
	})
	return files, bytes, err
}

// readOnly gives the regular files of dir the modes of m (0444, or 0555
// for executables), as staging does for every release.
func readOnly(dir string, m *manifest.Manifest) error {
	for _, e := range m.Entries {
		if e.IsSymlink() {
			continue
		}
		if err := os.Chmod(filepath.Join(dir, filepath.FromSlash(e.Path)), e.Mode); err != nil {
			return err
		}
	}
	return nil
}

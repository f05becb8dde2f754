package releases

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/example/release-agent/symlink"
)

// # Canaries (contract)
//
// ROOT/canary is a second symlink, made and replaced exactly like
// ROOT/current (rename(2) of a fresh link, then an fsync of ROOT). When no
// canary runs it points where current does, so a web server whose root
// is ROOT/canary always has one.
//
// ROOT/cohorts/00 to ROOT/cohorts/99 are symlinks to ../current or
// ../canary. The shipped nginx snippet puts every client in one of these
// 100 buckets (sticky, by a cookie) and serves it from its bucket's link,
// so a canary at P percent is buckets 00 to P-1 pointing to ../canary:
// starting, resizing, promoting or aborting a canary replaces links, and
// the web server is never reloaded. Growing the share keeps every client
// already in the canary there.
//
// A canary runs while ROOT/canary points to a release other than the
// current one; its share is the number of cohort links to ../canary. Both
// are read from the links themselves, so what the store reports is what
// the web server serves. Every change is one journal line
// (canary-started, canary-resized, canary-aborted; a promotion is an
// "activated" line), written after the links are durable.
//
// Order of the steps, so that a crash at any point leaves every client
// on a release that has all its files:
//   - start: hashed assets are carried both ways (each release can serve
//     the other's), then canary moves, then the cohort links of the share.
//   - resize: cohort links only.
//   - promote: current moves to the canary release (every bucket then
//     serves it), then the cohort links go back to ../current.
//   - abort: the cohort links go back to ../current first (nobody is served
//     the canary any more), then canary moves back to current's release.
//
// A crash between steps leaves a canary that runs at a share between the
// old and the new one, or a canary link ahead of its buckets (0%): status
// shows it, and promote or abort finish it.

// Names inside ROOT for canaries.
const (
	CanaryName = "canary"
	CohortsDir = "cohorts"
	// Cohorts is the number of cohort links (buckets 00 to 99).
	Cohorts = 100
)

// Journal event kinds of canaries. A promotion is an EvActivated line
// whose Detail says so; an abort marks the canary release bad, like a
// rollback, unless it was activated explicitly since.
const (
	EvCanaryStarted = "canary-started"
	EvCanaryResized = "canary-resized"
	EvCanaryAborted = "canary-aborted"
)

// ErrNoCanary is returned by the operations that need a running canary
// when none runs; ErrCanaryRunning by StartCanary when one already runs.
var (
	ErrNoCanary      = errors.New("no canary is running")
	ErrCanaryRunning = errors.New("a canary is already running")
)

// CanaryInfo is the canary state read from the links.
type CanaryInfo struct {
	// Release is the canary's release, "" when none runs.
	Release string `json:"release,omitempty"`
	// Stable is the current release.
	Stable string `json:"stable,omitempty"`
	// Percent is the share of cohort links pointing to ../canary.
	Percent int `json:"percent"`
	// Cohorts is false when ROOT/cohorts does not exist yet (no switch
	// since the upgrade to a version with canaries).
	Cohorts bool `json:"cohorts"`
}

func (s *Store) canaryPath() string { return filepath.Join(s.Root, CanaryName) }

func (s *Store) cohortPath(i int) string {
	return filepath.Join(s.Root, CohortsDir, fmt.Sprintf("%02d", i))
}

// Canary returns the release of the running canary, "" when none runs.
// It takes no lock.
func (s *Store) Canary() (string, error) {
	ci, err := s.CanaryState()
	return ci.Release, err
}

// CanaryState reads the canary state from ROOT/canary and, while a
// canary runs, the cohort links (when none runs every cohort serves the
// current release, so Percent is 0). It takes no lock.
func (s *Store) CanaryState() (CanaryInfo, error) {
	var ci CanaryInfo
	cur, err := s.Current()
	if err != nil {
		return ci, err
	}
	ci.Stable = cur
	target, err := os.Readlink(s.canaryPath())
	if errors.Is(err, os.ErrNotExist) {
		return ci, nil
	}
	if err != nil {
		return ci, fmt.Errorf("reading %s: %w", s.canaryPath(), err)
	}
	id, ok := strings.CutPrefix(target, ReleasesDir+"/")
	if _, valid := ParseID(id); !ok || !valid {
		return ci, fmt.Errorf("%s points to %q, not to %s/vN", s.canaryPath(), target, ReleasesDir)
	}
	if id == cur {
		// No canary: every cohort serves current, whichever link it has.
		// The last link is the last one EnsureCohorts makes.
		_, err := os.Lstat(s.cohortPath(Cohorts - 1))
		ci.Cohorts = err == nil
		return ci, nil
	}
	ci.Release = id
	for i := 0; i < Cohorts; i++ {
		t, err := os.Readlink(s.cohortPath(i))
		if errors.Is(err, os.ErrNotExist) && i == 0 {
			return ci, nil
		}
		if err != nil {
			return ci, fmt.Errorf("reading cohort link: %w", err)
		}
		ci.Cohorts = true
		if t == "../"+CanaryName {
			ci.Percent++
		}
	}
	return ci, nil
}

// EnsureCohorts makes ROOT/canary (pointing where current points) and the
// cohort links (to ../current) when they are missing, so that a web
// server configured with the shipped cohort snippet has a root. Existing
// links are left alone. It requires the lock; switches call it.
func (s *Store) EnsureCohorts() error {
	if err := s.checkLocked(); err != nil {
		return err
	}
	cur, err := os.Readlink(s.CurrentPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing live: nothing to point to
	}
	if err != nil {
		return err
	}
	if _, err := os.Lstat(s.canaryPath()); errors.Is(err, os.ErrNotExist) {
		if err := symlink.Replace(s.canaryPath(), cur); err != nil {
			return fmt.Errorf("making %s: %w", s.canaryPath(), err)
		}
	}
	dir := filepath.Join(s.Root, CohortsDir)
	if _, err := os.Lstat(s.cohortPath(Cohorts - 1)); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making %s: %w", dir, err)
	}
	for i := 0; i < Cohorts; i++ {
		if _, err := os.Lstat(s.cohortPath(i)); err == nil {
			continue
		}
		if err := symlink.Replace(s.cohortPath(i), "../"+CurrentName); err != nil {
			return fmt.Errorf("making cohort link: %w", err)
		}
	}
	return nil
}

// setCohorts points buckets 00 to percent-1 at ../canary and the others
// at ../current, replacing only the links that change, in bucket order.
func (s *Store) setCohorts(percent int) error {
	for i := 0; i < Cohorts; i++ {
		want := "../" + CurrentName
		if i < percent {
			want = "../" + CanaryName
		}
		if t, err := os.Readlink(s.cohortPath(i)); err == nil && t == want {
			continue
		}
		if err := symlink.Replace(s.cohortPath(i), want); err != nil {
			return fmt.Errorf("cohort link: %w", err)
		}
	}
	return nil
}

func checkPercent(p int) error {
	if p < 1 || p > 99 {
		return fmt.Errorf("canary share %d%%: must be between 1 and 99", p)
	}
	return nil
}

// StartCanary makes release id the canary for percent of the cohorts. It
// requires the lock. o.Before, if set, is called as Before(id, current)
// and Before(current, id) before any link moves (carry-over of hashed
// assets both ways); an error there changes nothing. The release must be
// staged with a tree and not be current; a running canary is refused
// with ErrCanaryRunning.
func (s *Store) StartCanary(id string, percent int, o ActivateOptions) error {
	if err := s.checkLocked(); err != nil {
		return err
	}
	if err := checkPercent(percent); err != nil {
		return err
	}
	if err := s.EnsureCohorts(); err != nil {
		return err
	}
	ci, err := s.CanaryState()
	if err != nil {
		return err
	}
	if ci.Stable == "" {
		return fmt.Errorf("%w: nothing is live yet, so there is no stable release to compare a canary with; deploy it instead", ErrNoRelease)
	}
	if ci.Release != "" {
		return fmt.Errorf("%w: %s at %d%%; promote or abort it first", ErrCanaryRunning, ci.Release, ci.Percent)
	}
	if id == ci.Stable {
		return fmt.Errorf("%s is the current release; a canary must be another release", id)
	}
	rec, err := s.Record(id)
	if err != nil {
		return err
	}
	if !rec.Live() {
		return fmt.Errorf("%w: %s is %s, it has no tree to serve", ErrNoRelease, id, rec.Status)
	}
	if err := s.CheckTree(id); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoRelease, id, err)
	}
	if o.Before != nil {
		if err := o.Before(id, ci.Stable); err != nil {
			return fmt.Errorf("preparing canary %s: %w", id, err)
		}
		if err := o.Before(ci.Stable, id); err != nil {
			return fmt.Errorf("preparing canary %s: %w", id, err)
		}
	}
	if err := symlink.Replace(s.canaryPath(), ReleasesDir+"/"+id); err != nil {
		return fmt.Errorf("switching %s to %s: %w", s.canaryPath(), id, err)
	}
	if err := s.setCohorts(percent); err != nil {
		return err
	}
	return s.Append(Event{Event: EvCanaryStarted, Release: id, From: ci.Stable, Who: o.Who,
		Detail: fmt.Sprintf("%d%%%s", percent, reasonSuffix(o.Reason)),
		Source: rec.Source.Spec, SHA256: rec.Source.SHA256, Provenance: rec.Provenance})
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return "; " + r
}

// SetCanaryPercent changes the running canary's share. It requires the
// lock.
func (s *Store) SetCanaryPercent(percent int, who Who) error {
	if err := s.checkLocked(); err != nil {
		return err
	}
	if err := checkPercent(percent); err != nil {
		return err
	}
	ci, err := s.CanaryState()
	if err != nil {
		return err
	}
	if ci.Release == "" {
		return ErrNoCanary
	}
	if ci.Percent == percent {
		return nil
	}
	if err := s.setCohorts(percent); err != nil {
		return err
	}
	return s.Append(Event{Event: EvCanaryResized, Release: ci.Release, From: ci.Stable, Who: who,
		Detail: fmt.Sprintf("%d%% (was %d%%)", percent, ci.Percent)})
}

// PromoteCanary makes the running canary current for everyone: current
// moves to it (an "activated" line, see Activate for what is atomic and
// durable), then the cohort links go back to ../current. It requires the
// lock and returns the release that was current before.
func (s *Store) PromoteCanary(o ActivateOptions) (from, to string, err error) {
	if err := s.checkLocked(); err != nil {
		return "", "", err
	}
	ci, err := s.CanaryState()
	if err != nil {
		return "", "", err
	}
	if ci.Release == "" {
		return ci.Stable, "", ErrNoCanary
	}
	if o.Reason == "" {
		o.Reason = "canary promoted"
	}
	// The hashed assets were carried both ways when it started.
	o.Before = nil
	from, err = s.Activate(ci.Release, o) // resets the cohorts (switchTo)
	return from, ci.Release, err
}

// AbortCanary ends the running canary: the cohort links go back to
// ../current, then canary moves back to current's release, then a
// canary-aborted line marks the canary release bad (o.Reason says why).
// It requires the lock and returns the aborted release.
func (s *Store) AbortCanary(o ActivateOptions) (string, error) {
	if err := s.checkLocked(); err != nil {
		return "", err
	}
	ci, err := s.CanaryState()
	if err != nil {
		return "", err
	}
	if ci.Release == "" {
		return "", ErrNoCanary
	}
	if err := s.endCanary(ci.Stable); err != nil {
		return ci.Release, err
	}
	return ci.Release, s.Append(Event{Event: EvCanaryAborted, Release: ci.Release, From: ci.Stable, Who: o.Who,
		Detail: fmt.Sprintf("at %d%%%s", ci.Percent, reasonSuffix(o.Reason))})
}

// endCanary points every cohort at ../current, then canary at cur.
func (s *Store) endCanary(cur string) error {
	if _, err := os.Lstat(s.cohortPath(0)); err == nil {
		if err := s.setCohorts(0); err != nil {
			return err
		}
	}
	if cur == "" {
		return nil
	}
	if err := symlink.Replace(s.canaryPath(), ReleasesDir+"/"+cur); err != nil {
		return fmt.Errorf("switching %s to %s: %w", s.canaryPath(), cur, err)
	}
	return nil
}

// followCanary, after current moved to id, brings ROOT/canary and the
// cohorts in line: a canary running before the switch (ci, read before
// it) ends, with a canary-aborted line unless id is the canary (a
// promotion); otherwise canary just moves to id. Missing links are made.
func (s *Store) followCanary(ci CanaryInfo, cerr error, id string) error {
	if cerr != nil {
		// An unreadable canary link (made by hand): leave it to fsck
		// rather than fail a switch that has happened.
		return nil
	}
	if ci.Release != "" {
		if err := s.endCanary(id); err != nil {
			return err
		}
	} else if err := symlink.Replace(s.canaryPath(), ReleasesDir+"/"+id); err != nil {
		return fmt.Errorf("switching %s to %s: %w", s.canaryPath(), id, err)
	}
	if !ci.Cohorts {
		if err := s.EnsureCohorts(); err != nil {
			return err
		}
	}
	if ci.Release != "" && ci.Release != id {
		return s.Append(Event{Event: EvCanaryAborted, Release: ci.Release, From: ci.Stable, Who: s.lockWho(),
			Detail: fmt.Sprintf("at %d%%; ended by the switch to %s", ci.Percent, id)})
	}
	return nil
}

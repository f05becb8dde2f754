package service

// The operations of api.Service that need nothing but the release store.
// Local resolves the site and checks the request (ids, once) first.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/carry"
	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/releases"
)

// checkIDs returns a usage error naming the first of ids that is not a
// release id (vN). Local checks ids before opening a store, so that a bad
// id is a usage error whatever the root.
func checkIDs(ids ...string) error {
	for _, id := range ids {
		if err := releases.CheckID(id); err != nil {
			return api.Usagef("%v", err)
		}
	}
	return nil
}

// checkSwitch checks the release id of an activate (required) or rollback
// (optional) request.
func checkSwitch(req api.ActivateRequest, rollback bool) error {
	if req.ID != "" {
		return checkIDs(req.ID)
	}
	if !rollback {
		return api.Usagef("activate needs a release id (vN); see `releasectl list`")
	}
	return nil
}

// switchStore makes req.ID current (Activate), or for a rollback req.ID or,
// if it is empty, the release that was live before the current one (see
// releases.Store.Rollback). It takes the store's lock for the switch,
// waiting up to req.Wait, and links the hashed assets of the release
// being left into the one being activated first (carry.OnSwitch).
// Seconds in the result run from asking for the lock to the durable
// swap and journal line.
func switchStore(ctx context.Context, st *releases.Store, req api.ActivateRequest, who releases.Who, rollback bool) (*api.ActivateResult, error) {
	op := "activate " + req.ID
	if rollback {
		op = "rollback"
	}
	start := time.Now()
	lk, cleaned, err := st.Lock(ctx, req.Wait, who, op)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	res := &api.ActivateResult{Schema: api.Schema, Cleaned: cleaned}
	warn := func(w string) { res.Warnings = append(res.Warnings, w) }
	o := releases.ActivateOptions{Who: who, Reason: req.Reason, Before: carry.OnSwitchWarn(ctx, st, warn)}
	ci, _ := st.CanaryState()
	switch {
	case rollback && req.ID == "" && ci.Release != "":
		// The newest change is the canary: undo that, not current.
		o.Before = nil
		res.From, err = st.AbortCanary(o)
		res.To, res.CanaryAborted = ci.Stable, true
	case rollback:
		res.From, res.To, err = st.Rollback(req.ID, o)
	default:
		res.To = req.ID
		res.From, err = st.Activate(req.ID, o)
	}
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		if errors.Is(err, releases.ErrNoPrevious) {
			return nil, fmt.Errorf("%w: %w", api.ErrNotFound, err)
		}
		return nil, err
	}
	return res, nil
}

// listStore returns every release of st, newest first, with the disk space
// their trees use.
func listStore(st *releases.Store) (*api.ListResult, error) {
	recs, err := st.Records()
	if err != nil {
		return nil, err
	}
	res := &api.ListResult{Schema: api.Schema, Root: st.Root, Releases: []api.Release{}}
	res.Current, _ = st.Current()
	res.Previous, _ = st.Previous()
	var dirs []string
	for _, r := range recs {
		rel := api.Release{Record: *r, Current: r.ID == res.Current, Previous: r.ID == res.Previous}
		switch {
		case r.Status == releases.StatusDamaged:
			rel.Damage = "record damaged"
			res.Warnings = append(res.Warnings, r.Error)
		case r.Live():
			if fi, err := os.Stat(st.Dir(r.ID)); err != nil || !fi.IsDir() {
				rel.Damage = "tree missing"
				w := fmt.Sprintf("%s has no tree at %s", r.ID, st.Dir(r.ID))
				if rel.Current {
					w += ": the site is down; `releasectl rollback` or `activate` a healthy release, or deploy"
				}
				res.Warnings = append(res.Warnings, w)
			} else {
				dirs = append(dirs, st.Dir(r.ID))
			}
		}
		res.Releases = append(res.Releases, rel)
	}
	if res.Current != "" && !slices.ContainsFunc(recs, func(r *releases.Record) bool { return r.ID == res.Current }) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("current points to %s, which has no record", res.Current))
	}
	res.DiskBytes, res.LogicalBytes = diskUsage(dirs)
	return res, nil
}

// diskUsage returns the bytes of regular files under dirs counting each
// inode once (disk) and once per name (logical).
func diskUsage(dirs []string) (disk, logical int64) {
	type key struct{ dev, ino uint64 }
	seen := map[key]bool{}
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return nil
			}
			fi, err := e.Info()
			if err != nil {
				return nil
			}
			logical += fi.Size()
			if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
				k := key{uint64(sys.Dev), sys.Ino}
				if seen[k] {
					return nil
				}
				seen[k] = true
			}
			disk += fi.Size()
			return nil
		})
	}
	return disk, logical
}

// statusStore returns the live release of st, the rollback target and the
// holder of the lock, if any.
func statusStore(st *releases.Store) (*api.StatusResult, error) {
	res := &api.StatusResult{Schema: api.Schema, Root: st.Root, Lock: st.LockHolder()}
	cur, err := st.Current()
	if err != nil {
		return nil, err
	}
	res.Previous, _ = st.Previous()
	res.Canary = canaryStatus(st)
	if cur != "" {
		r, err := st.Record(cur)
		if errors.Is(err, releases.ErrDamaged) {
			res.Warnings = append(res.Warnings, err.Error())
			rb, rerr := st.RebuildRecord(cur)
			if rerr != nil {
				rb = &releases.Record{ID: cur}
			}
			rb.Status, rb.Error, r, err = releases.StatusDamaged, err.Error(), rb, nil
		}
		if err != nil {
			return nil, fmt.Errorf("current points to %s: %w", cur, err)
		}
		res.Current = &api.Release{Record: *r, Current: true, Previous: r.ID == res.Previous}
		if d, err := st.TreeDamage(cur); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("live release %s cannot be checked: %v", cur, err))
		} else if d != "" {
			res.Current.Damage = d
			res.Warnings = append(res.Warnings, fmt.Sprintf("live release %s is damaged: %s; `releasectl rollback` or `activate` a healthy release, or deploy (`releasectl fsck` lists every problem)", cur, d))
		}
	}
	return res, nil
}

// historyStore returns the last limit events of st's journal (0: all).
func historyStore(st *releases.Store, limit int) (*api.HistoryResult, error) {
	evs, bad, err := st.Journal(limit)
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []releases.Event{}
	}
	return &api.HistoryResult{Schema: api.Schema, Events: evs, Skipped: bad}, nil
}

// diffStore returns the files added, removed and changed from release a
// to b.
func diffStore(st *releases.Store, a, b string) (*api.DiffResult, error) {
	ma, err := st.Manifest(a)
	if err != nil {
		return nil, err
	}
	mb, err := st.Manifest(b)
	if err != nil {
		return nil, err
	}
	ch := manifest.Diff(ma, mb)
	if ch == nil {
		ch = []manifest.Change{}
	}
	return &api.DiffResult{Schema: api.Schema, From: a, To: b, Changes: ch}, nil
}

// manifestStore returns the files of release id and its content-hashed assets
// (the "hashes" extra the hash stage stored; none if it was not hashed).
func manifestStore(st *releases.Store, id string) (*api.ManifestResult, error) {
	m, err := st.Manifest(id)
	if err != nil {
		return nil, err
	}
	res := &api.ManifestResult{Schema: api.Schema, ID: id, Files: m.Entries, Assets: []api.Asset{}}
	var hm struct {
		Assets []api.Asset `json:"assets"`
	}
	if err := st.Extra(id, carry.HashesExtra, &hm); err == nil && hm.Assets != nil {
		res.Assets = hm.Assets
	}
	return res, nil
}

// pruneStore removes the trees of old releases of st by o (see
// releases.Store.PrunePlanWith; a Keep of 0 without OlderThan is the
// default keep), under the lock; with req.DryRun it only plans, without
// the lock.
func pruneStore(ctx context.Context, st *releases.Store, req api.PruneRequest, o releases.PruneOptions, who releases.Who) (*api.PruneResult, error) {
	if o.Keep == 0 && o.OlderThan == 0 {
		o.Keep = releases.DefaultKeep
	}
	res := &api.PruneResult{Schema: api.Schema}
	var err error
	if req.DryRun {
		res.Kept, res.Pruned, err = st.PrunePlanWith(o)
		return res, err
	}
	lk, cleaned, err := st.Lock(ctx, req.Wait, who, "prune")
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	res.Cleaned = cleaned
	if res.Pruned, err = st.PruneWith(o, who); err != nil {
		return res, err
	}
	res.Kept, _, err = st.PrunePlanWith(o)
	if res.Pruned == nil {
		res.Pruned = []string{}
	}
	return res, err
}

// pinStore pins or unpins req.ID under the lock.
func pinStore(ctx context.Context, st *releases.Store, req api.PinRequest, who releases.Who) (*api.PinResult, error) {
	op := "pin"
	if !req.Pin {
		op = "unpin"
	}
	lk, _, err := st.Lock(ctx, req.Wait, who, op+" "+req.ID)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	changed, err := st.SetPinned(req.ID, req.Pin, who)
	if err != nil {
		return nil, err
	}
	return &api.PinResult{Schema: api.Schema, ID: req.ID, Pinned: req.Pin, Changed: changed}, nil
}

// Fsck checks the store of req.Target (see releases.Store.Fsck) and, with
// req.Repair, repairs what it can under the store's lock (waiting up to
// req.Wait). It is not part of api.Service: releasectl runs it on the
// store itself, also while the daemon runs (the lock keeps them apart).
func (l *Local) Fsck(ctx context.Context, req api.FsckRequest) (*api.FsckResult, error) {
	_, st, err := l.store(req.Target)
	if err != nil {
		return nil, err
	}
	res := &api.FsckResult{Schema: api.Schema, Root: st.Root}
	who := l.who(ctx)
	if req.Repair {
		lk, cleaned, err := st.Lock(ctx, req.Wait, who, "fsck --repair")
		if err != nil {
			return nil, err
		}
		defer lk.Unlock()
		res.Cleaned = cleaned
	}
	ps, err := st.Fsck(ctx, releases.FsckOptions{Repair: req.Repair, Full: req.Full, Who: who})
	if err != nil {
		return nil, err
	}
	res.Problems = ps
	if res.Problems == nil {
		res.Problems = []releases.Problem{}
	}
	res.Clean = !slices.ContainsFunc(ps, func(p releases.Problem) bool { return p.Repaired == "" })
	return res, nil
}

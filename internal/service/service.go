// Package service implements api.Service directly on release stores: it is
// what releasectl runs when no daemon is listening, and what the daemon
// runs behind its control socket. It is safe for concurrent use: every
// change takes the store's lock (one writer per site, across processes),
// reads take none.
package service

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/releases"
)

// Site is one release root and its policy.
type Site struct {
	Name string
	Root string
	Keep int // 0: releases.DefaultKeep
	// KeepFor also keeps every release that was current within this long
	// ([site] keep_for); 0: by count only.
	KeepFor time.Duration
	// CanaryPercent is the share of a canary started without --percent
	// ([site.watch] canary_percent); 0: DefaultCanaryPercent.
	CanaryPercent int
	Limits        safewrite.Limits
	// Policy for hashing and validation (nil: the defaults).
	Policy *Policy
}

// Local implements api.Service on local stores.
type Local struct {
	// Sites by name. A Target with Root instead of Site gets a Site with
	// that root and default policy.
	Sites map[string]*Site
	// Via is recorded as who.Via when the context carries no Who ("cli").
	Via string
	// Progress, if set, receives deploy progress (releasectl draws it).
	Progress func(deploy.Progress)
	// Sources opens SOURCE strings with a scheme (s3://); nil: local
	// paths only.
	Sources ingest.Openers

	mu     sync.Mutex
	stores map[string]*releases.Store
}

type whoKey struct{}

// WithWho returns a context carrying who: the daemon's control server puts
// the socket peer there, and Local records it in the journal.
func WithWho(ctx context.Context, who releases.Who) context.Context {
	return context.WithValue(ctx, whoKey{}, who)
}

type sourceFileKey struct{}

// WithSourceFile returns a context carrying f, the local archive a
// Deploy's Source names, opened by the caller: Deploy reads f instead of
// opening the path again (the daemon's inbox opens with O_NOFOLLOW and
// checks for a regular file; see ingest.Options.File). The caller closes
// f after Deploy.
func WithSourceFile(ctx context.Context, f *os.File) context.Context {
	return context.WithValue(ctx, sourceFileKey{}, f)
}

func (l *Local) who(ctx context.Context) releases.Who {
	if w, ok := ctx.Value(whoKey{}).(releases.Who); ok {
		return w
	}
	via := l.Via
	if via == "" {
		via = "cli"
	}
	return releases.LocalWho(via)
}

func (l *Local) site(t api.Target) (*Site, error) {
	switch {
	case t.Root != "" && t.Site != "":
		return nil, api.Usagef("give --root or --site, not both")
	case t.Root != "":
		for _, s := range l.Sites {
			if a, _ := filepath.Abs(t.Root); a == s.Root || t.Root == s.Root {
				return s, nil
			}
		}
		return &Site{Name: filepath.Base(t.Root), Root: t.Root}, nil
	case t.Site != "":
		s, ok := l.Sites[t.Site]
		if !ok {
			return nil, fmt.Errorf("%w: no site %q in the configuration (sites: %s)", api.ErrNotFound, t.Site, l.siteNames())
		}
		return s, nil
	case len(l.Sites) == 1:
		for _, s := range l.Sites {
			return s, nil
		}
	}
	return nil, api.Usagef("which site? give --root DIR or --site NAME (configured sites: %s)", l.siteNames())
}

func (l *Local) siteNames() string {
	if len(l.Sites) == 0 {
		return "none"
	}
	var s string
	for _, n := range slices.Sorted(maps.Keys(l.Sites)) {
		if s != "" {
			s += ", "
		}
		s += n
	}
	return s
}

func (l *Local) store(t api.Target) (*Site, *releases.Store, error) {
	return l.openStore(t, true)
}

// existingStore is store for the verbs that only read: it creates nothing
// in a root that holds no store yet, and then fails with an error
// wrapping releases.ErrNoStore.
func (l *Local) existingStore(t api.Target) (*Site, *releases.Store, error) {
	return l.openStore(t, false)
}

// openStore returns the store of t's site, opened once with create (and
// cached), or opened without creating anything (and not cached: a later
// writer opens it with create).
func (l *Local) openStore(t api.Target, create bool) (*Site, *releases.Store, error) {
	site, err := l.site(t)
	if err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st, ok := l.stores[site.Root]; ok {
		return site, st, nil
	}
	if !create {
		st, err := releases.OpenExisting(site.Root)
		return site, st, err
	}
	st, err := releases.Open(site.Root)
	if err != nil {
		return site, nil, err
	}
	if l.stores == nil {
		l.stores = map[string]*releases.Store{}
	}
	l.stores[site.Root] = st
	return site, st, nil
}

func (l *Local) release(st *releases.Store, r *releases.Record) api.Release {
	cur, _ := st.Current()
	prev, _ := st.Previous()
	return api.Release{Record: *r, Current: r.ID == cur, Previous: r.ID == prev}
}

// Deploy implements api.Service.
func (l *Local) Deploy(ctx context.Context, req api.DeployRequest) (*api.DeployResult, error) {
	if req.Source == "" && req.Stream != nil {
		req.Source = "-"
	}
	if req.Source == "" {
		return nil, api.Usagef("deploy needs a SOURCE (a directory, an archive or s3://bucket/key)")
	}
	if err := req.Provenance.Check(); err != nil {
		return nil, api.Usagef("provenance: %v", err)
	}
	site, st, err := l.store(req.Target)
	if err != nil {
		return nil, err
	}
	if err := checkSourceOutsideRoot(req.Source, st.Root); err != nil {
		return nil, err
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, req.Timeout, fmt.Errorf("deploy timed out after %s (--timeout)", req.Timeout))
		defer cancel()
	}
	keep := req.Keep
	if keep == 0 {
		keep = site.Keep
	}
	preq := deploy.Request{
		Source: req.Source, SHA256: req.SHA256, Activate: req.Activate, Keep: keep, KeepFor: site.KeepFor, Wait: req.Wait,
		Limits: site.Limits, Who: l.who(ctx), Progress: l.Progress, Sources: l.Sources,
		Stream: req.Stream, StreamFrom: req.StreamFrom, Provenance: req.Provenance, DryRun: req.DryRun, Force: req.Force,
	}
	preq.SourceFile, _ = ctx.Value(sourceFileKey{}).(*os.File)
	preq.Stages = stages(site, req)
	var switchWarnings []string
	preq.BeforeSwitch = deploy.CarryOnSwitchWarn(ctx, st, func(w string) { switchWarnings = append(switchWarnings, w) })
	res, err := deploy.Deploy(ctx, st, preq)
	if res != nil {
		res.Warnings = append(res.Warnings, switchWarnings...)
	}
	if err != nil {
		var rej *deploy.RejectedError
		if errors.As(err, &rej) {
			return nil, &api.Error{Schema: api.Schema, Code: "rejected", Exit: api.ExitRejected, Message: err.Error(), Report: rej.Report}
		}
		return nil, err
	}
	out := &api.DeployResult{Schema: api.Schema, Activated: res.Activated,
		Previous: res.Previous, Pruned: res.Pruned, Cleaned: res.Cleaned, Warnings: res.Warnings, Finished: time.Now().UTC(),
		DryRun: res.DryRun, Changes: res.Changes, AlreadyLive: res.AlreadyLive}
	if res.Record != nil { // nil for a dry run and an artifact already live
		out.Release = l.release(st, res.Record)
	}
	if res.Report != nil {
		out.Report = res.Report
	}
	for _, t := range res.Timings {
		out.Timings = append(out.Timings, api.Timing{Stage: t.Stage, Seconds: t.Duration.Seconds()})
	}
	return out, nil
}

// checkSourceOutsideRoot refuses a local source that is the release root,
// inside it (state/, releases/, current) or a parent of it: the fetch
// would copy the store into its own staging until a path limit stops it.
// Both paths are compared resolved (filepath.EvalSymlinks); a source with
// a scheme (s3://), or one that does not exist (ingest says so), passes.
func checkSourceOutsideRoot(source, root string) error {
	if strings.Contains(source, "://") {
		return nil
	}
	src, err := filepath.Abs(source)
	if err != nil {
		return nil
	}
	if r, err := filepath.EvalSymlinks(src); err == nil {
		src = r
	} else {
		return nil
	}
	rroot := root
	if r, err := filepath.EvalSymlinks(root); err == nil {
		rroot = r
	}
	switch {
	case within(src, rroot):
		return api.Usagef("source %s is inside the release root %s: refusing (it would copy the store into itself)", source, root)
	case within(rroot, src):
		return api.Usagef("source %s contains the release root %s: refusing (it would copy the store into itself)", source, root)
	}
	return nil
}

// within reports whether path p is dir or below it (both clean, absolute).
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func (l *Local) switchTo(ctx context.Context, req api.ActivateRequest, rollback bool) (*api.ActivateResult, error) {
	if err := checkSwitch(req, rollback); err != nil {
		return nil, err
	}
	_, st, err := l.store(req.Target)
	if err != nil {
		return nil, err
	}
	return switchStore(ctx, st, req, l.who(ctx), rollback)
}

// Activate implements api.Service.
func (l *Local) Activate(ctx context.Context, req api.ActivateRequest) (*api.ActivateResult, error) {
	return l.switchTo(ctx, req, false)
}

// Rollback implements api.Service.
func (l *Local) Rollback(ctx context.Context, req api.ActivateRequest) (*api.ActivateResult, error) {
	return l.switchTo(ctx, req, true)
}

// List implements api.Service.
func (l *Local) List(ctx context.Context, t api.Target) (*api.ListResult, error) {
	site, st, err := l.existingStore(t)
	if errors.Is(err, releases.ErrNoStore) {
		return &api.ListResult{Schema: api.Schema, Root: site.Root, Releases: []api.Release{}, NoStore: true}, nil
	}
	if err != nil {
		return nil, err
	}
	return listStore(st)
}

// Status implements api.Service.
func (l *Local) Status(ctx context.Context, t api.Target) (*api.StatusResult, error) {
	site, st, err := l.existingStore(t)
	if errors.Is(err, releases.ErrNoStore) {
		return &api.StatusResult{Schema: api.Schema, Root: site.Root, NoStore: true}, nil
	}
	if err != nil {
		return nil, err
	}
	return statusStore(st)
}

// History implements api.Service.
func (l *Local) History(ctx context.Context, t api.Target, limit int) (*api.HistoryResult, error) {
	_, st, err := l.existingStore(t)
	if err != nil {
		return nil, err
	}
	return historyStore(st, limit)
}

// Diff implements api.Service.
func (l *Local) Diff(ctx context.Context, t api.Target, a, b string) (*api.DiffResult, error) {
	if err := checkIDs(a, b); err != nil {
		return nil, err
	}
	_, st, err := l.existingStore(t)
	if err != nil {
		return nil, err
	}
	return diffStore(st, a, b)
}

// Manifest implements api.Service.
func (l *Local) Manifest(ctx context.Context, t api.Target, id string) (*api.ManifestResult, error) {
	if err := checkIDs(id); err != nil {
		return nil, err
	}
	_, st, err := l.existingStore(t)
	if err != nil {
		return nil, err
	}
	return manifestStore(st, id)
}

// Prune implements api.Service.
func (l *Local) Prune(ctx context.Context, req api.PruneRequest) (*api.PruneResult, error) {
	if req.Keep < 0 {
		return nil, api.Usagef("--keep must be at least 1")
	}
	if req.OlderThan < 0 {
		return nil, api.Usagef("--older-than must not be negative")
	}
	site, st, err := l.store(req.Target)
	if err != nil {
		return nil, err
	}
	o := releases.PruneOptions{Keep: req.Keep, OlderThan: req.OlderThan}
	if o.OlderThan == 0 {
		o.OlderThan = site.KeepFor
		if o.Keep == 0 {
			o.Keep = site.Keep
		}
		if o.Keep == 0 {
			o.Keep = releases.DefaultKeep
		}
	}
	return pruneStore(ctx, st, req, o, l.who(ctx))
}

// Pin implements api.Service.
func (l *Local) Pin(ctx context.Context, req api.PinRequest) (*api.PinResult, error) {
	if err := checkIDs(req.ID); err != nil {
		return nil, err
	}
	_, st, err := l.store(req.Target)
	if err != nil {
		return nil, err
	}
	return pinStore(ctx, st, req, l.who(ctx))
}

// Validate implements api.Service.
func (l *Local) Validate(ctx context.Context, req api.ValidateRequest) (*api.ValidateResult, error) {
	if req.Path == "" {
		return nil, api.Usagef("validate needs a DIR or a release id vN")
	}
	var (
		site *Site
		st   *releases.Store
		err  error
	)
	dir := req.Path
	if _, ok := releases.ParseID(req.Path); ok {
		if site, st, err = l.store(req.Target); err != nil {
			return nil, err
		}
		if err := st.CheckTree(req.Path); err != nil {
			return nil, err
		}
		dir = st.Dir(req.Path)
	} else if req.Target != (api.Target{}) || len(l.Sites) == 1 {
		if site, st, err = l.store(req.Target); err != nil {
			return nil, err
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("validate: %s is not a directory: %w", dir, errors.Join(err, api.ErrNotFound))
	}
	if site == nil {
		site = &Site{}
	}
	return validateDir(ctx, site, st, dir)
}

var _ api.Service = (*Local)(nil)

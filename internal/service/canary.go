package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/carry"
	"github.com/example/release-agent/releases"
)

// DefaultCanaryPercent is the share of a canary started without one and
// without [site.watch] canary_percent.
const DefaultCanaryPercent = 10

// Canary implements api.Service: start, resize, promote or abort the
// site's canary under the store's lock (see releases "Canaries").
func (l *Local) Canary(ctx context.Context, req api.CanaryRequest) (*api.CanaryResult, error) {
	switch req.Action {
	case api.CanaryStart:
		if err := checkIDs(req.ID); err != nil {
			return nil, err
		}
	case api.CanaryResize:
	case api.CanaryPromote, api.CanaryAbort:
		if req.Percent != 0 {
			return nil, api.Usagef("--percent is for canary, not %s", req.Action)
		}
	default:
		return nil, api.Usagef("unknown canary action %q (start, resize, promote, abort)", req.Action)
	}
	if req.Action == api.CanaryResize || (req.Action == api.CanaryStart && req.Percent != 0) {
		if req.Percent < 1 || req.Percent > 99 {
			return nil, api.Usagef("--percent %d: a canary gets between 1 and 99 percent of clients", req.Percent)
		}
	}
	site, st, err := l.existingStore(req.Target)
	if err != nil {
		return nil, err
	}
	if req.Action == api.CanaryStart && req.Percent == 0 {
		req.Percent = site.CanaryPercent
		if req.Percent == 0 {
			req.Percent = DefaultCanaryPercent
		}
	}
	return canaryStore(ctx, st, req, l.who(ctx))
}

func canaryStore(ctx context.Context, st *releases.Store, req api.CanaryRequest, who releases.Who) (*api.CanaryResult, error) {
	start := time.Now()
	lk, _, err := st.Lock(ctx, req.Wait, who, "canary "+req.Action)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	res := &api.CanaryResult{Schema: api.Schema, Action: req.Action}
	warn := func(w string) { res.Warnings = append(res.Warnings, w) }
	o := releases.ActivateOptions{Who: who, Reason: req.Reason, Before: carry.OnSwitchWarn(ctx, st, warn)}
	switch req.Action {
	case api.CanaryStart:
		err = st.StartCanary(req.ID, req.Percent, o)
	case api.CanaryResize:
		err = st.SetCanaryPercent(req.Percent, who)
	case api.CanaryPromote:
		res.From, res.Release, err = st.PromoteCanary(o)
	case api.CanaryAbort:
		res.Release, err = st.AbortCanary(o)
	}
	res.Seconds = time.Since(start).Seconds()
	if errors.Is(err, releases.ErrNoCanary) {
		return nil, fmt.Errorf("%w: %w", api.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	ci, err := st.CanaryState()
	if err != nil {
		return nil, err
	}
	res.Stable, res.Percent = ci.Stable, ci.Percent
	if ci.Release != "" {
		res.Release = ci.Release
	}
	return res, nil
}

// canaryStatus is the running canary of st for status, with the time it
// started from the journal (the last canary-started line of it).
func canaryStatus(st *releases.Store) *api.CanaryStatus {
	ci, err := st.CanaryState()
	if err != nil || ci.Release == "" {
		return nil
	}
	cs := &api.CanaryStatus{Release: ci.Release, Percent: ci.Percent}
	if evs, _, err := st.Journal(200); err == nil {
		for i := len(evs) - 1; i >= 0; i-- {
			if evs[i].Event == releases.EvCanaryStarted && evs[i].Release == ci.Release {
				cs.Since = evs[i].Time
				break
			}
		}
	}
	return cs
}

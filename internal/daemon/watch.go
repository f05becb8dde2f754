package daemon

// watch engineer (issue 17): after each activation the daemon watches
// the new release through the site's access log and rolls it back at
// once when its users get more page errors than the previous release's
// did (package watch has the rule).
//
// Which activations are watched: a deploy that activates and an
// activate, after their health check passed (afterSwap). A rollback is
// not watched, whoever made it: it returns to a release that was live,
// and a rollback made by the watch itself must not be watched into
// another rollback. A new activation (or any rollback) ends the watch
// of the release it replaces.

import (
	"context"
	"sync"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/notify"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/internal/watch"
	"github.com/example/release-agent/releases"
)

// causeWatch is the rollback cause of a watch's verdict (metrics label,
// notification cause, journal "who").
const causeWatch = "watch"

// siteWatch is the watch state of one site; it survives reloads.
type siteWatch struct {
	mu sync.Mutex
	// src gives the figures of the followed access log; nil until the
	// follower has started (watchlog.go).
	src watch.Source
	// stop ends the running watch; nil when none runs.
	stop    context.CancelFunc
	current *api.WatchStatus
	last    *api.WatchStatus
}

func (d *Daemon) watchOf(site string) *siteWatch {
	w, _ := d.watches.LoadOrStore(site, &siteWatch{})
	return w.(*siteWatch)
}

// watchStatus returns copies of site's running watch and last verdict.
// Safe for concurrent use.
func (d *Daemon) watchStatus(site string) (cur, last *api.WatchStatus) {
	sw := d.watchOf(site)
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.current != nil {
		c := *sw.current
		cur = &c
	}
	if sw.last != nil {
		l := *sw.last
		last = &l
	}
	return cur, last
}

// stopWatch ends site's running watch, if any, without a verdict.
func (d *Daemon) stopWatch(site string) {
	sw := d.watchOf(site)
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.stop != nil {
		sw.stop()
		sw.stop, sw.current = nil, nil
	}
}

// startWatch starts watching release id of site, live since now, against
// prev (the release live before it; "" for a first release), if the site
// has [site.watch] and its log is followed. It replaces a running watch
// and returns at once; the watch runs for up to the window in its own
// goroutine, bound to the daemon's life.
func (d *Daemon) startWatch(site, id, prev string) {
	sc := d.siteConfig(site)
	if sc == nil || sc.Watch == nil {
		return
	}
	w := sc.Watch
	sw := d.watchOf(site)
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.stop != nil {
		sw.stop()
		sw.stop, sw.current = nil, nil
	}
	if sw.src == nil {
		d.log.Warn("watch: the access log is not followed; release not watched", "site", site, "release", id, "log", w.Log)
		return
	}
	spec := watch.Spec{Release: id, Since: time.Now(), Baseline: prev, Window: w.Window.D(),
		MaxErrorRate: w.MaxErrorRate, MinRequests: w.MinRequests}
	ctx, cancel := context.WithCancel(d.ctx)
	sw.stop = cancel
	sw.current = watchStatusOf(spec, watch.Verdict{Decision: watch.Pending, Reason: "no page request judged yet"})
	d.metrics.watchRate.DeletePartialMatch(map[string]string{"site": site})
	report := func(v watch.Verdict) {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if ctx.Err() != nil {
			return // replaced or stopped: its figures are no longer shown
		}
		sw.current = watchStatusOf(spec, v)
		d.metrics.watchRate.WithLabelValues(site, id).Set(v.New.Rate())
		if prev != "" {
			d.metrics.watchRate.WithLabelValues(site, prev).Set(v.Baseline.Rate())
		}
	}
	d.log.Info("watching the new release", "site", site, "release", id, "against", prev, "window", spec.Window.String())
	go func() {
		defer cancel()
		v, err := watch.Run(ctx, sw.src, spec, report)
		if err != nil {
			return // replaced by a newer watch, stopped, or shutdown
		}
		sw.mu.Lock()
		if ctx.Err() != nil {
			sw.mu.Unlock()
			return
		}
		sw.last, sw.current, sw.stop = watchStatusOf(spec, v), nil, nil
		sw.mu.Unlock()
		d.metrics.watchVerdicts.WithLabelValues(site, string(v.Decision)).Inc()
		switch v.Decision {
		case watch.Rollback:
			d.watchRollback(ctx, site, id, prev, v)
		case watch.NotJudged:
			d.log.Warn("watch: release not judged (too little traffic); it stays live", "site", site, "release", id, "reason", v.Reason)
		default:
			d.log.Info("watch: release passed", "site", site, "release", id, "reason", v.Reason)
		}
	}()
}

func watchStatusOf(s watch.Spec, v watch.Verdict) *api.WatchStatus {
	return &api.WatchStatus{Release: s.Release, Baseline: s.Baseline, Canary: s.Canary, Since: s.Since,
		Until: s.Since.Add(s.Window), Decision: string(v.Decision), Reason: v.Reason,
		Pages: v.New.Pages, PageErrors: v.New.PageErrors,
		BaselinePages: v.Baseline.Pages, BaselinePageErrors: v.Baseline.PageErrors, At: time.Now()}
}

// watchRollback rolls site back from id to prev on the watch's verdict v,
// through the path of the health check's rollback: the journal records
// the verdict as the reason (so `history` shows the figures), the
// rollback is counted and notified. Nothing happens when id is no longer
// live (someone activated another release meanwhile), or without prev.
func (d *Daemon) watchRollback(ctx context.Context, site, id, prev string, v watch.Verdict) {
	if prev == "" {
		d.log.Error("watch: release does worse than allowed and there is no earlier release to roll back to", "site", site, "release", id, "reason", v.Reason)
		return
	}
	local := d.cur.Load().local
	if st, err := local.Status(ctx, api.Target{Site: site}); err != nil || st.Current == nil || st.Current.ID != id {
		d.log.Warn("watch: rollback verdict for a release no longer live; nothing done", "site", site, "release", id, "reason", v.Reason, "err", err)
		return
	}
	reason := "watch of " + id + ": " + v.Reason
	rctx := service.WithWho(context.WithoutCancel(ctx), releases.Who{UID: -1, Via: causeWatch})
	rb, err := local.Rollback(rctx, api.ActivateRequest{Target: api.Target{Site: site}, ID: prev, Reason: reason, Wait: time.Minute})
	if err != nil {
		d.log.Error("watch: the rollback failed; the release stays live", "site", site, "release", id, "to", prev, "reason", v.Reason, "err", err)
		return
	}
	d.setLive(site, rb.To)
	secs := d.swapToRollback(site, id)
	d.metrics.rollbacks.WithLabelValues(site, causeWatch).Inc()
	d.emit(notify.Event{Event: notify.Rollback, Cause: causeWatch, Site: site, Release: rb.To, Previous: id, Error: reason})
	d.log.Warn("watch: rolled back", "site", site, "bad", id, "live", rb.To, "reason", v.Reason, "swap_to_rollback_seconds", secs)
}

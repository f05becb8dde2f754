package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/accesslog"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/notify"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/internal/watch"
	"github.com/example/release-agent/releases"
)

// CauseWatch is the notify cause of a rollback or canary abort decided
// from the access log.
const CauseWatch = "watch"

// siteWatch is a site's [site.watch]: it follows the web server's access
// log into a window of per-release counts, and after each activation (or
// canary start) judges the new release against its baseline
// (package watch), rolling back or aborting at once when it is worse,
// promoting an automatic canary that passes. One watch runs at a time; a
// newer activation replaces it. Safe for concurrent use.
type siteWatch struct {
	d    *Daemon
	site string
	cfg  config.Watch
	win  *accesslog.Window

	mu       sync.Mutex
	ctx      context.Context    // the worker's (start); judges run under it
	cancel   context.CancelFunc // of the running judge, nil when none
	st       api.WatchStatus
	logErr   string
	timeline []switchAt // Caddy: which release was current when
}

type switchAt struct {
	t  time.Time
	id string
}

func newSiteWatch(d *Daemon, s *config.Site) *siteWatch {
	// The window holds the baseline's last window before an activation
	// and the new release's window after it.
	return &siteWatch{d: d, site: s.Name, cfg: *s.Watch, win: accesslog.NewWindow(2*s.Watch.Window.D() + time.Minute)}
}

// start follows the log, and runs judges, until ctx (the worker's) ends.
func (sw *siteWatch) start(ctx context.Context) {
	sw.mu.Lock()
	sw.ctx = ctx
	sw.mu.Unlock()
	go sw.follow(ctx)
}

// follow reads the log until ctx ends. A log that cannot be read (not
// there yet, not a regular file) is retried; status says why meanwhile.
func (sw *siteWatch) follow(ctx context.Context) {
	parse := accesslog.ParseNginx
	if sw.cfg.Format == "caddy" {
		parse = accesslog.ParseCaddy
		if st, err := releases.OpenExisting(sw.siteRoot()); err == nil {
			if cur, _ := st.Current(); cur != "" {
				sw.noteSwitch(cur, time.Time{})
			}
		}
	}
	log := sw.d.log.With("site", sw.site, "log", sw.cfg.Log)
	for {
		sw.mu.Lock()
		sw.logErr = "" // until Follow fails again
		sw.mu.Unlock()
		err := accesslog.Follow(ctx, sw.cfg.Log, accesslog.FollowOptions{Parse: parse, Logger: log}, sw.add)
		if ctx.Err() != nil {
			return
		}
		sw.mu.Lock()
		sw.logErr = err.Error()
		sw.mu.Unlock()
		log.Error("watch: cannot follow the access log; retrying in 10s", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}

func (sw *siteWatch) siteRoot() string {
	if sc := sw.d.siteConfig(sw.site); sc != nil {
		return sc.Root
	}
	return ""
}

// add counts e; a Caddy entry, which cannot name its release, is given
// the release that was current at its time.
func (sw *siteWatch) add(e accesslog.Entry) {
	if e.Release == "" && sw.cfg.Format == "caddy" {
		sw.mu.Lock()
		for i := len(sw.timeline) - 1; i >= 0; i-- {
			if !e.Time.Before(sw.timeline[i].t) {
				e.Release = sw.timeline[i].id
				break
			}
		}
		sw.mu.Unlock()
	}
	if e.Release != "" {
		sw.win.Add(e)
	}
}

// noteSwitch records that id became current at t, for Caddy's log
// (nginx's names the release itself).
func (sw *siteWatch) noteSwitch(id string, t time.Time) {
	if sw.cfg.Format != "caddy" {
		return
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.timeline = append(sw.timeline, switchAt{t, id})
	if len(sw.timeline) > 100 {
		sw.timeline = slices.Delete(sw.timeline, 0, len(sw.timeline)-100)
	}
}

// Figures implements watch.Source.
func (sw *siteWatch) Figures(release string, from, to time.Time) watch.Figures {
	c := sw.win.Counts(release, from, to)
	return watch.Figures{Pages: int(c.Pages), PageErrors: int(c.PageErrors)}
}

// stop ends the running judge, if any (a manual switch made it moot).
func (sw *siteWatch) stop(why string) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.cancel != nil {
		sw.cancel()
		sw.cancel = nil
		if !watch.Decision(sw.st.Decision).Final() {
			sw.st.Decision, sw.st.Reason, sw.st.Decided = "stopped", why, time.Now()
		}
	}
}

// begin starts judging release (a canary when canary) against baseline
// from since, replacing a running judge.
func (sw *siteWatch) begin(release, baseline string, canary bool, since time.Time) {
	sw.mu.Lock()
	base := sw.ctx
	if base == nil { // a reload made the worker and has not started it yet
		base = sw.d.ctx
	}
	ctx, cancel := context.WithCancel(base)
	if sw.cancel != nil {
		sw.cancel()
	}
	sw.cancel = cancel
	sw.st = api.WatchStatus{Release: release, Baseline: baseline, Canary: canary, Since: since, Decision: string(watch.Pending)}
	sw.mu.Unlock()
	spec := watch.Spec{Release: release, Baseline: baseline, Canary: canary, Since: since,
		Window: sw.cfg.Window.D(), MaxErrorRate: sw.cfg.MaxErrorRate, MinRequests: sw.cfg.MinRequests, Poll: time.Second}
	sw.d.log.Info("watch: judging", "site", sw.site, "release", release, "baseline", baseline, "canary", canary, "window", spec.Window)
	go func() {
		defer cancel()
		v, err := watch.Run(ctx, sw, spec, func(v watch.Verdict) {
			sw.d.metrics.watchRate.WithLabelValues(sw.site, "new").Set(v.New.Rate())
			sw.d.metrics.watchRate.WithLabelValues(sw.site, "baseline").Set(v.Baseline.Rate())
			sw.mu.Lock()
			if sw.st.Release == release && sw.st.Since.Equal(since) {
				sw.st.Decision, sw.st.Reason = string(v.Decision), v.Reason
			}
			sw.mu.Unlock()
		})
		if err != nil {
			return // replaced or stopped
		}
		sw.mu.Lock()
		if sw.st.Release == release && sw.st.Since.Equal(since) {
			sw.st.Decided = time.Now()
		}
		sw.mu.Unlock()
		sw.d.metrics.watchVerdicts.WithLabelValues(sw.site, string(v.Decision)).Inc()
		sw.act(spec, v)
	}()
}

// act carries out a final verdict, if what it judged is still what is
// served: a rollback (or an abort of a canary) at once; an automatic
// canary that passed is promoted; otherwise a "watched" journal line.
func (sw *siteWatch) act(spec watch.Spec, v watch.Verdict) {
	d, site := sw.d, sw.site
	log := d.log.With("site", site, "release", spec.Release, "decision", v.Decision, "reason", v.Reason)
	st, err := releases.OpenExisting(sw.siteRoot())
	if err != nil {
		log.Error("watch: cannot open the store", "err", err)
		return
	}
	ci, err := st.CanaryState()
	if err != nil {
		log.Error("watch: cannot read the canary state", "err", err)
		return
	}
	if (spec.Canary && ci.Release != spec.Release) || (!spec.Canary && ci.Stable != spec.Release) {
		log.Info("watch: verdict not acted on; the release is no longer served", "canary", ci.Release, "current", ci.Stable)
		return
	}
	ctx := service.WithWho(context.WithoutCancel(d.ctx), releases.Who{UID: -1, Via: "watch"})
	local, target := d.cur.Load().local, api.Target{Site: site}
	reason := "watch: " + v.Reason
	switch {
	case v.Decision == watch.Rollback && spec.Canary:
		res, err := local.Canary(ctx, api.CanaryRequest{Target: target, Action: api.CanaryAbort, Reason: reason, Wait: time.Minute})
		if err != nil {
			log.Error("watch: aborting the canary failed", "err", err)
			return
		}
		d.metrics.rollbacks.WithLabelValues(site, CauseWatch).Inc()
		log.Warn("watch: canary aborted", "stable", res.Stable, "seconds_since_start", time.Since(spec.Since).Seconds())
		d.emit(notify.Event{Event: notify.Rollback, Cause: CauseWatch, Site: site, Release: res.Stable, Previous: spec.Release,
			Error: "canary " + spec.Release + " aborted: " + v.Reason})
	case v.Decision == watch.Rollback:
		if spec.Baseline == "" {
			log.Error("watch: the release does worse than allowed and there is nothing to roll back to")
			st.Append(releases.Event{Event: releases.EvWatched, Release: spec.Release, Who: releases.Who{UID: -1, Via: "watch"}, Detail: "would roll back, but there is no earlier release: " + v.Reason})
			return
		}
		rb, err := local.Rollback(ctx, api.ActivateRequest{Target: target, ID: spec.Baseline, Reason: reason, Wait: time.Minute})
		if err != nil {
			log.Error("watch: rollback failed", "to", spec.Baseline, "err", err)
			return
		}
		d.setLive(site, rb.To)
		d.metrics.rollbacks.WithLabelValues(site, CauseWatch).Inc()
		log.Warn("watch: rolled back", "to", rb.To, "seconds_since_activation", time.Since(spec.Since).Seconds())
		d.emit(notify.Event{Event: notify.Rollback, Cause: CauseWatch, Site: site, Release: rb.To, Previous: spec.Release,
			Error: spec.Release + " rolled back: " + v.Reason})
	case v.Decision == watch.Pass && spec.Canary && sw.cfg.Canary == "auto":
		res, err := local.Canary(ctx, api.CanaryRequest{Target: target, Action: api.CanaryPromote, Reason: "canary promoted by the watch: " + v.Reason, Wait: time.Minute})
		if err != nil {
			log.Error("watch: promoting the canary failed", "err", err)
			return
		}
		d.setLive(site, res.Release)
		log.Info("watch: canary promoted")
		d.emit(notify.Event{Event: notify.Activate, Cause: CauseWatch, Site: site, Release: res.Release, Previous: res.From})
	default:
		detail := string(v.Decision) + ": " + v.Reason
		if spec.Canary && v.Decision == watch.Pass {
			detail += "; `releasectl promote` makes it current"
		} else if spec.Canary {
			detail += "; the canary keeps running: `releasectl promote` or `releasectl abort`"
		}
		log.Info("watch: verdict")
		if err := st.Append(releases.Event{Event: releases.EvWatched, Release: spec.Release, From: spec.Baseline, Who: releases.Who{UID: -1, Via: "watch"}, Detail: detail}); err != nil {
			log.Error("watch: recording the verdict failed", "err", err)
		}
	}
}

// status is the watch for api.StatusResult: the judge's state and each
// release's traffic over the last window (current, canary and the
// baseline first, then any other release seen).
func (sw *siteWatch) status(current, canary string) *api.WatchStatus {
	sw.mu.Lock()
	ws := sw.st
	ws.LogError = sw.logErr
	sw.mu.Unlock()
	now := time.Now()
	from := now.Add(-sw.cfg.Window.D())
	rels := sw.win.Releases()
	order := []string{current, canary, ws.Release, ws.Baseline}
	seen := map[string]bool{"": true}
	for _, id := range append(order, rels...) {
		if seen[id] || !slices.Contains(rels, id) {
			continue
		}
		seen[id] = true
		c := sw.win.Counts(id, from, now)
		if c.Requests == 0 {
			continue
		}
		ws.Traffic = append(ws.Traffic, api.Traffic{Release: id, Requests: c.Requests, Pages: c.Pages, Page404: c.Page404,
			Other4xx: c.Other4xx, Server5xx: c.Server5xx, PageErrors: c.PageErrors, ErrorRate: c.PageErrorRate(),
			P50: c.P50.Seconds(), P90: c.P90.Seconds(), P99: c.P99.Seconds()})
	}
	return &ws
}

// watchOf returns site's watch, nil without [site.watch].
func (d *Daemon) watchOf(site string) *siteWatch {
	if w := d.cur.Load().workers[site]; w != nil {
		return w.watch
	}
	return nil
}

// autoCanary reports whether deploys of site start as canaries.
func (d *Daemon) autoCanary(site string) bool {
	sc := d.siteConfig(site)
	return sc != nil && sc.Watch != nil && sc.Watch.Canary == "auto"
}

// startCanary starts the staged release id as site's canary, aborting a
// canary that runs (superseded), and starts judging it. When nothing is
// live yet there is no stable cohort: it returns (nil, nil) and the
// caller activates id instead.
func (d *Daemon) startCanary(ctx context.Context, site, id string) (*api.CanaryResult, error) {
	st, err := releases.OpenExisting(d.siteConfig(site).Root)
	if err != nil {
		return nil, err
	}
	if cur, err := st.Current(); err != nil || cur == "" {
		return nil, err
	}
	local, target := d.cur.Load().local, api.Target{Site: site}
	res, err := local.Canary(ctx, api.CanaryRequest{Target: target, Action: api.CanaryStart, ID: id, Wait: time.Minute, Reason: "deploy"})
	if errors.Is(err, releases.ErrCanaryRunning) {
		if _, aerr := local.Canary(ctx, api.CanaryRequest{Target: target, Action: api.CanaryAbort, Reason: "superseded by " + id, Wait: time.Minute}); aerr != nil {
			return nil, fmt.Errorf("aborting the running canary for %s: %w", id, aerr)
		}
		res, err = local.Canary(ctx, api.CanaryRequest{Target: target, Action: api.CanaryStart, ID: id, Wait: time.Minute, Reason: "deploy"})
	}
	if err != nil {
		return nil, fmt.Errorf("%s is staged, but starting it as a canary failed: %w", id, err)
	}
	if sw := d.watchOf(site); sw != nil {
		sw.begin(id, res.Stable, true, time.Now())
	}
	return res, nil
}

// Canary implements api.Service: the local action, then the watch: a
// started canary is judged (and with canary = "auto" promoted when it
// passes); a promote or abort ends the judge.
func (s *daemonService) Canary(ctx context.Context, req api.CanaryRequest) (*api.CanaryResult, error) {
	if err := s.target(req.Target); err != nil {
		return nil, err
	}
	site := s.d.siteName(req.Target)
	start := time.Now()
	res, err := s.local().Canary(ctx, req)
	if err != nil || site == "" {
		return res, err
	}
	sw := s.d.watchOf(site)
	switch req.Action {
	case api.CanaryStart:
		if sw != nil {
			sw.begin(res.Release, res.Stable, true, start)
		}
	case api.CanaryPromote:
		if sw != nil {
			sw.stop("promoted by hand")
		}
		s.d.setLive(site, res.Release)
		s.d.emit(notify.Event{Event: notify.Activate, Cause: notify.CauseManual, Site: site, Release: res.Release, Previous: res.From})
	case api.CanaryAbort:
		if sw != nil {
			sw.stop("aborted by hand")
		}
		s.d.metrics.rollbacks.WithLabelValues(site, "manual").Inc()
		s.d.emit(notify.Event{Event: notify.Rollback, Cause: notify.CauseManual, Site: site, Release: res.Stable, Previous: res.Release,
			Error: "canary " + res.Release + " aborted"})
	}
	return res, nil
}

// watchMetrics are the [site.watch] series.
func newWatchMetrics(m *metrics) {
	m.watchRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "release_agent_watch_page_error_rate",
		Help: "Page error rate in percent of the watched release (cohort new) and its baseline, as last judged."}, []string{"site", "cohort"})
	m.watchVerdicts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_watch_verdicts_total",
		Help: "Final verdicts of the access-log watch (pass, rollback, not-judged)."}, []string{"site", "decision"})
	m.reg.MustRegister(m.watchRate, m.watchVerdicts)
}

// watchAfter starts judging id, which just went live (and passed the
// health check), against prev, when site has [site.watch].
func (d *Daemon) watchAfter(site, id, prev string) {
	if sw := d.watchOf(site); sw != nil && id != "" {
		sw.begin(id, prev, false, time.Now())
	}
}

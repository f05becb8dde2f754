package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/notify"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

// daemonService is the api.Service behind the control socket: the current
// configuration's service.Local, plus what the daemon adds: in-progress
// tracking (STATUS=, status.in_progress), metrics, and the health check
// with automatic rollback after every swap it makes.
type daemonService struct{ d *Daemon }

func (s *daemonService) local() *service.Local { return s.d.cur.Load().local }

// ErrNotConfigured is wrapped (with api.ErrNotFound) when a request names a
// root that is not a configured site's: the daemon works only on its
// sites (releasectl --root works on any root directly, without it).
var ErrNotConfigured = errors.New("not the root of a configured site")

// target checks t: a Root must be a configured site's root (else any
// caller could make the daemon create a store anywhere it may write).
func (s *daemonService) target(t api.Target) error {
	if t.Root == "" {
		return nil
	}
	if s.d.siteName(t) == "" {
		return fmt.Errorf("%w: %w: %s (use --site NAME, or releasectl --root without the daemon)", api.ErrNotFound, ErrNotConfigured, t.Root)
	}
	return nil
}

// siteName resolves the site a target names (for tracking; "" if the
// target is a root outside the configuration).
func (d *Daemon) siteName(t api.Target) string {
	st := d.cur.Load()
	switch {
	case t.Site != "":
		return t.Site
	case t.Root != "":
		for _, s := range st.cfg.Sites {
			if s.Root == t.Root {
				return s.Name
			}
		}
		return ""
	case len(st.cfg.Sites) == 1:
		return st.cfg.Sites[0].Name
	}
	return ""
}

func (d *Daemon) siteConfig(name string) *config.Site {
	return d.cur.Load().cfg.Site(name)
}

// deploy runs one deploy for site (tracked as what), then the health check.
func (d *Daemon) deploy(ctx context.Context, site, what string, req api.DeployRequest) (*api.DeployResult, error) {
	if site != "" {
		d.setDoing(site, "deploying "+what)
		defer d.setDoing(site, "")
	}
	start := time.Now()
	// With [site.watch] canary = "auto" a deploy stages the release and
	// starts it as a canary instead of activating it.
	canary := req.Activate && !req.DryRun && site != "" && d.autoCanary(site)
	if canary {
		req.Activate = false
	}
	res, err := d.runDeploy(ctx, site, req) // recovers panics (worker.go)
	if canary && err == nil && res.Release.ID != "" {
		res.Canary, err = d.startCanary(ctx, site, res.Release.ID)
		if err == nil && res.Canary == nil {
			// Nothing live yet: no stable cohort to compare with.
			var ar *api.ActivateResult
			if ar, err = d.cur.Load().local.Activate(ctx, api.ActivateRequest{Target: req.Target, ID: res.Release.ID, Reason: "deploy (first release: no canary)", Wait: req.Wait}); err == nil {
				res.Activated, res.Previous = true, ar.From
			}
		}
		if err != nil {
			res = nil
		}
	}
	if err == nil && site != "" && res.Activated {
		d.setLive(site, res.Release.ID)
		if herr := d.afterSwap(ctx, site, res.Release.ID, res.Previous); herr != nil {
			res, err = nil, herr
		} else {
			d.watchAfter(site, res.Release.ID, res.Previous)
		}
	}
	// An unhealthy release counts as a failed deploy.
	d.metrics.observeDeploy(site, time.Since(start), err)
	d.emitDeploy(site, what, req.Source, res, err)
	return res, err
}

// ErrUnhealthy is wrapped by the error of a deploy or activation whose
// release failed the health check (and was rolled back).
var ErrUnhealthy = errors.New("health check failed")

// afterSwap runs the site's health check against the release id that just
// went live (watchHealth: attempts on the schedule of config.Health); on
// failure it rolls back to prev at once, records why, notifies the
// rollback, and returns an error wrapping ErrUnhealthy that says how long
// the bad release was live.
func (d *Daemon) afterSwap(ctx context.Context, site, id, prev string) error {
	sc := d.siteConfig(site)
	if sc == nil || sc.Health == nil {
		return nil
	}
	start := time.Now()
	herr := d.watchHealth(ctx, site, id, sc.Health)
	if herr == nil {
		d.log.Info("health check passed", "site", site, "release", id, "seconds", time.Since(start).Seconds())
		return nil
	}
	d.log.Error("health check failed; rolling back", "site", site, "release", id, "to", prev, "err", herr)
	if prev == "" {
		d.metrics.healthFailures.WithLabelValues(site).Inc()
		return fmt.Errorf("%w: %s is live and has no earlier release to roll back to: %w", ErrUnhealthy, id, herr)
	}
	rctx := service.WithWho(context.WithoutCancel(ctx), releases.Who{UID: -1, Via: "health-check"})
	rb, err := d.cur.Load().local.Rollback(rctx, api.ActivateRequest{Target: api.Target{Site: site}, ID: prev,
		Reason: "health check of " + id + " failed: " + herr.Error(), Wait: time.Minute})
	d.metrics.healthFailures.WithLabelValues(site).Inc()
	if err != nil {
		return fmt.Errorf("%w: %s: %w; and the rollback to %s failed: %v", ErrUnhealthy, id, herr, prev, err)
	}
	d.setLive(site, rb.To)
	secs := d.swapToRollback(site, id)
	d.metrics.healthRollbackSeconds.WithLabelValues(site).Set(secs)
	d.metrics.rollbacks.WithLabelValues(site, "health-check").Inc()
	d.emit(notify.Event{Event: notify.Rollback, Cause: notify.CauseHealthCheck, Site: site, Release: rb.To, Previous: id,
		Error: "health check of " + id + " failed: " + herr.Error()})
	d.log.Warn("rolled back after a failed health check", "site", site, "bad", id, "live", rb.To, "swap_to_rollback_seconds", secs)
	return fmt.Errorf("%w: %s went live and failed its health check (%w); rolled back to %s, %.3fs after the swap",
		ErrUnhealthy, id, herr, rb.To, secs)
}

// swapToRollback measures, from the journal, the time between id's
// activation and the rollback that followed it.
func (d *Daemon) swapToRollback(site, id string) float64 {
	h, err := d.cur.Load().local.History(context.Background(), api.Target{Site: site}, 50)
	if err != nil {
		return 0
	}
	var on time.Time
	for _, ev := range h.Events {
		if ev.Event == releases.EvActivated && ev.Release == id {
			on = ev.Time
		}
		if ev.Event == releases.EvRolledBack && ev.From == id && !on.IsZero() {
			return ev.Time.Sub(on).Seconds()
		}
	}
	return 0
}

// healthTarget is one URL of a health check with its expectations.
type healthTarget struct {
	url, host string
	status    int
	body      string
	re        *regexp.Regexp // nil: any
}

// healthTargets lists h's URLs: URLs with h's expectations, then Checks.
// The regexps were checked by package config; one that does not compile
// anyway is an error, not a pass.
func healthTargets(h *config.Health) ([]healthTarget, error) {
	compile := func(re string) (*regexp.Regexp, error) {
		if re == "" {
			return nil, nil
		}
		return regexp.Compile(re)
	}
	var out []healthTarget
	re, err := compile(h.ExpectBodyRegexp)
	if err != nil {
		return nil, fmt.Errorf("expect_body_regexp: %w", err)
	}
	for _, u := range h.URLs {
		out = append(out, healthTarget{url: u, host: h.Host, status: h.ExpectStatus, body: h.ExpectBody, re: re})
	}
	for i, c := range h.Checks {
		re, err := compile(c.ExpectBodyRegexp)
		if err != nil {
			return nil, fmt.Errorf("check[%d].expect_body_regexp: %w", i, err)
		}
		host := c.Host
		if host == "" {
			host = h.Host
		}
		st := c.ExpectStatus
		if st == 0 {
			st = config.DefaultHealthStatus
		}
		out = append(out, healthTarget{url: c.URL, host: host, status: st, body: c.ExpectBody, re: re})
	}
	return out, nil
}

// healthClient is the HTTP client of health checks: no redirects
// followed (a redirect is checked as the status it is), h.Timeout per
// request.
func healthClient(h *config.Health) *http.Client {
	return &http.Client{Timeout: h.Timeout.D(), CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// probe GETs t once and checks its expectations; status is 0 if no
// response came. A nil error is a pass.
func probe(ctx context.Context, hc *http.Client, t healthTarget) (status int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", t.url, err)
	}
	if t.host != "" {
		req.Host = t.host
	}
	req.Header.Set("User-Agent", "release-agent health check")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", t.url, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: reading the body: %w", t.url, err)
	}
	if resp.StatusCode != t.status {
		return resp.StatusCode, fmt.Errorf("GET %s: status %d, want %d", t.url, resp.StatusCode, t.status)
	}
	if t.body != "" && !strings.Contains(string(body), t.body) {
		return resp.StatusCode, fmt.Errorf("GET %s: body does not contain %q", t.url, t.body)
	}
	if t.re != nil && !t.re.Match(body) {
		return resp.StatusCode, fmt.Errorf("GET %s: body does not match /%s/", t.url, t.re)
	}
	return resp.StatusCode, nil
}

// checkHealth makes one attempt of h: every URL is checked (and each
// result passed to logf if not nil); it returns the first failure.
func checkHealth(ctx context.Context, h *config.Health, logf ...func(url string, status int, d time.Duration, err error)) error {
	ts, err := healthTargets(h)
	if err != nil {
		return err
	}
	hc := healthClient(h)
	var first error
	for _, t := range ts {
		start := time.Now()
		st, err := probe(ctx, hc, t)
		for _, f := range logf {
			f(t.url, st, time.Since(start), err)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// watchHealth runs site's health check h against release id, which just
// went live, on the schedule of h (see config.Health): it returns nil
// once id is healthy, an error saying why once it is not. Every request
// is logged with its URL, status, latency and verdict.
func (d *Daemon) watchHealth(ctx context.Context, site, id string, h *config.Health) error {
	start := time.Now()
	gctx, cancel := context.WithDeadline(ctx, start.Add(h.Grace.D()))
	defer cancel()
	tick := time.NewTicker(h.Interval.D())
	defer tick.Stop()
	fails, passes := 0, 0
	var last error
	for n := 1; ; n++ {
		err := checkHealth(gctx, h, func(url string, status int, lat time.Duration, err error) {
			args := []any{"site", site, "release", id, "attempt", n, "url", url, "status", status,
				"latency_ms", lat.Milliseconds(), "pass", err == nil}
			if err != nil {
				d.log.Warn("health check request", append(args, "err", err)...)
			} else {
				d.log.Info("health check request", args...)
			}
		})
		if err == nil {
			fails, passes = 0, passes+1
			if passes >= h.Successes {
				return nil
			}
		} else {
			fails, passes, last = fails+1, 0, err
			if fails >= h.Failures {
				return fmt.Errorf("%d failed attempts in a row (the last: %w)", fails, err)
			}
		}
		select {
		case <-gctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("health check interrupted after %d attempts: %w", n, ctx.Err())
			}
			if last == nil {
				return fmt.Errorf("not healthy within the grace period of %s (%d attempts)", h.Grace.D(), n)
			}
			return fmt.Errorf("not healthy within the grace period of %s (%d attempts; the last failure: %w)", h.Grace.D(), n, last)
		case <-tick.C:
		}
	}
}

func (d *Daemon) setLive(site, id string) {
	if sw := d.watchOf(site); sw != nil {
		sw.noteSwitch(id, time.Now())
	}
	if n, ok := releases.ParseID(id); ok {
		d.metrics.live.WithLabelValues(site).Set(float64(n))
	}
	d.sendStatus()
}

// Deploy implements api.Service: a deploy asked for over the control
// socket, health-checked like a triggered one.
func (s *daemonService) Deploy(ctx context.Context, req api.DeployRequest) (*api.DeployResult, error) {
	if err := s.target(req.Target); err != nil {
		return nil, err
	}
	return s.d.deploy(ctx, s.d.siteName(req.Target), "releasectl "+req.Source, req)
}

// Activate implements api.Service; the newly live release is
// health-checked (and rolled back on failure).
func (s *daemonService) Activate(ctx context.Context, req api.ActivateRequest) (*api.ActivateResult, error) {
	if err := s.target(req.Target); err != nil {
		return nil, err
	}
	site := s.d.siteName(req.Target)
	res, err := s.local().Activate(ctx, req)
	if err != nil || site == "" {
		return res, err
	}
	s.d.metrics.rollbacks.WithLabelValues(site, "activate")
	s.d.setLive(site, res.To)
	s.d.emit(notify.Event{Event: notify.Activate, Site: site, Release: res.To, Previous: res.From})
	if err := s.d.afterSwap(ctx, site, res.To, res.From); err != nil {
		return nil, err
	}
	s.d.watchAfter(site, res.To, res.From)
	return res, nil
}

// Rollback implements api.Service. A rollback is not health-checked: it
// goes back to a release that was live, and checking it could only bounce.
func (s *daemonService) Rollback(ctx context.Context, req api.ActivateRequest) (*api.ActivateResult, error) {
	if err := s.target(req.Target); err != nil {
		return nil, err
	}
	res, err := s.local().Rollback(ctx, req)
	if site := s.d.siteName(req.Target); err == nil && site != "" {
		if sw := s.d.watchOf(site); sw != nil {
			sw.stop("rolled back by hand")
		}
		s.d.metrics.rollbacks.WithLabelValues(site, "manual").Inc()
		s.d.setLive(site, res.To)
		s.d.emit(notify.Event{Event: notify.Rollback, Cause: notify.CauseManual, Site: site, Release: res.To, Previous: res.From})
	}
	return res, err
}

// List implements api.Service.
func (s *daemonService) List(ctx context.Context, t api.Target) (*api.ListResult, error) {
	if err := s.target(t); err != nil {
		return nil, err
	}
	return s.local().List(ctx, t)
}

// Status implements api.Service, adding what the daemon is doing.
func (s *daemonService) Status(ctx context.Context, t api.Target) (*api.StatusResult, error) {
	if err := s.target(t); err != nil {
		return nil, err
	}
	res, err := s.local().Status(ctx, t)
	if err != nil {
		return nil, err
	}
	res.Daemon = true
	if site := s.d.siteName(t); site != "" {
		if sw := s.d.watchOf(site); sw != nil {
			cur, canary := "", ""
			if res.Current != nil {
				cur = res.Current.ID
			}
			if res.Canary != nil {
				canary = res.Canary.Release
			}
			res.Watch = sw.status(cur, canary)
		}
		res.InProgress = s.d.doing(site)
		if w := s.d.cur.Load().workers[site]; w != nil {
			res.GaveUp = w.lastGiveUp() // retry.go
		}
	}
	return res, nil
}

// History implements api.Service.
func (s *daemonService) History(ctx context.Context, t api.Target, limit int) (*api.HistoryResult, error) {
	if err := s.target(t); err != nil {
		return nil, err
	}
	return s.local().History(ctx, t, limit)
}

// Diff implements api.Service.
func (s *daemonService) Manifest(ctx context.Context, t api.Target, id string) (*api.ManifestResult, error) {
	if err := s.target(t); err != nil {
		return nil, err
	}
	return s.local().Manifest(ctx, t, id)
}

func (s *daemonService) Diff(ctx context.Context, t api.Target, a, b string) (*api.DiffResult, error) {
	if err := s.target(t); err != nil {
		return nil, err
	}
	return s.local().Diff(ctx, t, a, b)
}

// Prune implements api.Service.
func (s *daemonService) Prune(ctx context.Context, req api.PruneRequest) (*api.PruneResult, error) {
	if err := s.target(req.Target); err != nil {
		return nil, err
	}
	return s.local().Prune(ctx, req)
}

// Pin implements api.Service.
func (s *daemonService) Pin(ctx context.Context, req api.PinRequest) (*api.PinResult, error) {
	if err := s.target(req.Target); err != nil {
		return nil, err
	}
	return s.local().Pin(ctx, req)
}

// Validate implements api.Service.
func (s *daemonService) Validate(ctx context.Context, req api.ValidateRequest) (*api.ValidateResult, error) {
	if err := s.target(req.Target); err != nil {
		return nil, err
	}
	return s.local().Validate(ctx, req)
}

package watch

import (
	"context"
	"time"
)

// Source gives the page figures of one release over [from, to). The
// daemon's adapter over an accesslog.Window implements it; it must be
// safe for concurrent use with the goroutine that fills it.
type Source interface {
	Figures(release string, from, to time.Time) Figures
}

// Spec is one watch: a release that went live (or a canary that started)
// at Since, judged against Baseline.
type Spec struct {
	// Release is the watched release id ("v7").
	Release string
	// Since is the activation (or the start of the canary).
	Since time.Time
	// Baseline is the release compared with: the one live before
	// Release, or the stable release of a canary. Empty: no baseline
	// (a first release), judged against 0%.
	Baseline string
	// Canary: the baseline is Baseline's figures over the same minutes
	// as Release's (the stable cohort); otherwise it is Baseline's last
	// Window before Since.
	Canary bool
	// Window, MaxErrorRate and MinRequests are [site.watch]'s.
	Window       time.Duration
	MaxErrorRate float64
	MinRequests  int
	// Poll is how often Run judges; 0 means one second.
	Poll time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Input is the judge's input for spec at now: Release's figures from
// Since to now (at most Window), and the baseline's.
func (s Spec) Input(src Source, now time.Time) Input {
	end := s.Since.Add(s.Window)
	over := !now.Before(end)
	if over {
		now = end
	}
	in := Input{
		New:          src.Figures(s.Release, s.Since, now),
		MaxErrorRate: s.MaxErrorRate,
		MinRequests:  s.MinRequests,
		WindowOver:   over,
	}
	switch {
	case s.Baseline == "":
		in.Against = "before (no earlier release)"
	case s.Canary:
		in.Baseline = src.Figures(s.Baseline, s.Since, now)
		in.Against = "stable " + s.Baseline
	default:
		in.Baseline = src.Figures(s.Baseline, s.Since.Add(-s.Window), s.Since)
		in.Against = s.Baseline + " before"
	}
	return in
}

// Run judges spec every Poll until the Verdict is final (rollback at
// once, or pass / not-judged when the window ends) and returns it. report,
// if not nil, is called with every verdict, pending ones included (for
// status and metrics), from Run's goroutine. When ctx ends first Run
// returns the last pending verdict and ctx.Err(). Run does not act on the
// verdict: the caller rolls back, promotes or aborts.
func Run(ctx context.Context, src Source, spec Spec, report func(Verdict)) (Verdict, error) {
	now := spec.Now
	if now == nil {
		now = time.Now
	}
	poll := spec.Poll
	if poll <= 0 {
		poll = time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		v := Judge(spec.Input(src, now()))
		if report != nil {
			report(v)
		}
		if v.Decision.Final() {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-tick.C:
		}
	}
}

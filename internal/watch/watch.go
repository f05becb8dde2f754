// Package watch judges a release by what its users got: the page
// requests the web server logged for it (package accesslog) against a
// baseline, with the thresholds of [site.watch].
//
// The judge is pure: it reads figures and returns a Verdict. It does not
// follow logs, roll back or notify; the daemon does, and it calls Judge
// again as figures grow until the Verdict is final.
//
// # The rule
//
//   - Rollback, at once, as soon as the new release has at least
//     MinRequests page requests and its page error rate exceeds the
//     baseline's by more than MaxErrorRate percentage points.
//   - Otherwise Pending while the window runs.
//   - When the window is over: Pass if the new release reached
//     MinRequests page requests, NotJudged if it did not. A release with
//     too little traffic is never rolled back by guess.
//
// # A baseline with too little traffic
//
// When the baseline has fewer than MinRequests page requests its rate is
// noise (2 errors in 10 requests would be 20%, and would hide a broken
// release), so the new release is judged against 0%: it is rolled back
// when its own page error rate exceeds MaxErrorRate. This is the strict
// choice: a site whose normal error rate is above the threshold can see
// a healthy release rolled back after a quiet baseline; the Reason says
// "baseline too quiet, judged against 0%" so the operator can tell.
//
// # Canaries
//
// For a canary the baseline is the stable cohort over the same minutes
// (Input.Against "stable v3"). A NotJudged canary is not promoted and not
// aborted: the daemon leaves it running at its percentage and says so in
// status, for the operator to promote or abort.
package watch

import (
	"fmt"
)

// Decision is the state of a watch.
type Decision string

// The decisions. Pending is the only one that is not final.
const (
	Pending   Decision = "pending"
	Pass      Decision = "pass"
	Rollback  Decision = "rollback"
	NotJudged Decision = "not-judged"
)

// Final reports whether d ends the watch.
func (d Decision) Final() bool { return d != Pending && d != "" }

// Figures are the page requests of one release over a span of time and
// how many of them were errors (404 on a page, other 4xx, 5xx: the
// PageErrors of accesslog.Counts).
type Figures struct {
	Pages      int `json:"pages"`
	PageErrors int `json:"page_errors"`
}

// Rate is the page error rate in percent; 0 without page requests.
func (f Figures) Rate() float64 {
	if f.Pages <= 0 {
		return 0
	}
	return 100 * float64(f.PageErrors) / float64(f.Pages)
}

// String is "7.9% (41/520)".
func (f Figures) String() string {
	return fmt.Sprintf("%.1f%% (%d/%d)", f.Rate(), f.PageErrors, f.Pages)
}

// Input is what Judge needs.
type Input struct {
	// New is the watched release since its activation (or, for a
	// canary, the canary cohort since the canary started).
	New Figures
	// Baseline is the previous release's last window before the
	// activation, or the stable cohort over the same minutes.
	Baseline Figures
	// Against names the baseline in the Reason: "before" (the default)
	// or e.g. "stable v3".
	Against string
	// MaxErrorRate is the tolerated excess in percentage points
	// ([site.watch] max_error_rate).
	MaxErrorRate float64
	// MinRequests is the number of page requests below which a release
	// is not judged ([site.watch] min_requests).
	MinRequests int
	// WindowOver is true once the window ([site.watch] window) since the
	// activation has passed.
	WindowOver bool
}

// Verdict is the result of Judge. Reason carries the figures, e.g.
// "page error rate 7.9% (41/520) vs 0.4% (2/480) before, threshold +2.0 points".
type Verdict struct {
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason"`
	New      Figures  `json:"new"`
	Baseline Figures  `json:"baseline"`
}

// Judge applies the rule of the package doc to in. It is pure and safe
// for concurrent use.
func Judge(in Input) Verdict {
	against := in.Against
	if against == "" {
		against = "before"
	}
	baseRate := in.Baseline.Rate()
	baseText := fmt.Sprintf("%s %s", in.Baseline, against)
	if in.Baseline.Pages < in.MinRequests {
		baseRate = 0
		baseText = fmt.Sprintf("%s %s (baseline too quiet, judged against 0%%)", in.Baseline, against)
	}
	figures := fmt.Sprintf("page error rate %s vs %s, threshold +%.1f points", in.New, baseText, in.MaxErrorRate)
	v := Verdict{Decision: Pending, New: in.New, Baseline: in.Baseline}
	enough := in.New.Pages >= in.MinRequests && in.New.Pages > 0
	switch {
	case enough && in.New.Rate()-baseRate > in.MaxErrorRate+1e-9: // an excess equal to the threshold, in float, is tolerated
		v.Decision = Rollback
		v.Reason = figures
	case !in.WindowOver:
		v.Reason = figures
		if !enough {
			v.Reason = fmt.Sprintf("%d of %d page requests so far; %s", in.New.Pages, in.MinRequests, figures)
		}
	case enough:
		v.Decision = Pass
		v.Reason = figures
	default:
		v.Decision = NotJudged
		v.Reason = fmt.Sprintf("only %d page requests in the window, fewer than min_requests %d; %s", in.New.Pages, in.MinRequests, figures)
	}
	return v
}

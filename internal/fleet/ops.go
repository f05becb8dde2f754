package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/example/release-agent/internal/backoff"
)

// Errors of the operator's operations (wrapped, naming the host).
var (
	// ErrRejected: a member's validation refused the artifact.
	ErrRejected = errors.New("rejected by a member")
	// ErrMemberFailed: a member failed to stage or activate.
	ErrMemberFailed = errors.New("a member failed")
	// ErrMissing: a member stopped reporting (or never did).
	ErrMissing = errors.New("a member is not reporting")
	// ErrNoMembers: no host reports to the fleet.
	ErrNoMembers = errors.New("the fleet has no members")
	// ErrTimeout: the members did not converge within Options.Wait.
	ErrTimeout = errors.New("members did not converge in time")
	// ErrSuperseded: another operator wrote desired.json meanwhile.
	ErrSuperseded = errors.New("desired.json was superseded by another writer")
	// ErrUnknownRelease: a label this fleet never deployed.
	ErrUnknownRelease = errors.New("no such release in this fleet")
)

// Defaults of Options.
const (
	DefaultWait             = 5 * time.Minute
	DefaultHeartbeatTimeout = 30 * time.Second
	DefaultPoll             = 200 * time.Millisecond
)

// Options of the operator's operations.
type Options struct {
	// Who is recorded in desired.json ("user@host").
	Who string
	// Wait bounds the whole operation (default DefaultWait).
	Wait time.Duration
	// Hosts, if set, are the members; otherwise the hosts whose last
	// heartbeat is within HeartbeatTimeout.
	Hosts []string
	// AllowMissing lets the operation go on without the members that do
	// not report (they converge when they come back).
	AllowMissing bool
	// HeartbeatTimeout (default DefaultHeartbeatTimeout): a member whose
	// heartbeat is older is missing.
	HeartbeatTimeout time.Duration
	// Poll is how often the reports are read while waiting.
	Poll time.Duration
	// Progress, if set, is told each change seen in a member's report.
	Progress func(line string)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Deploy describes a new release for Deploy.
type Deploy struct {
	Artifact Artifact
	Label    string // "" = "r<generation>"
	Message  string
	Commit   string
}

// Row is one host in a Result.
type Row struct {
	Host       string  `json:"host"`
	State      State   `json:"state,omitempty"`
	Generation int64   `json:"generation"`
	Lag        int64   `json:"lag"` // generations behind desired.json
	Staged     string  `json:"staged,omitempty"`
	StagedID   string  `json:"staged_id,omitempty"`
	Live       string  `json:"live,omitempty"`
	LiveID     string  `json:"live_id,omitempty"`
	Heartbeat  string  `json:"heartbeat,omitempty"` // RFC 3339
	AgeSeconds float64 `json:"age_seconds"`         // since the heartbeat
	Missing    bool    `json:"missing,omitempty"`   // no heartbeat within the timeout
	Error      string  `json:"error,omitempty"`
	RolledBack string  `json:"rolled_back,omitempty"`
}

// ResultSchema is the schema of Result.
const ResultSchema = 1

// Result is the document of every operator operation (releasectl fleet
// ... --json): desired.json as it ended and one row per host.
type Result struct {
	Schema  int      `json:"schema"`
	Fleet   string   `json:"fleet"`
	Desired *Desired `json:"desired,omitempty"`
	Hosts   []Row    `json:"hosts"`
	// Aborted is set when a deploy was called off: desired.json was put
	// back to the release that was live (nothing switched anywhere).
	Aborted bool `json:"aborted,omitempty"`
	// Seconds is how long the operation took.
	Seconds float64 `json:"seconds"`
}

// MemberError is the error of an operation one member made fail: its
// name and its report. It wraps ErrRejected, ErrMemberFailed or ErrMissing.
type MemberError struct {
	Host   string
	Report *HostReport // nil when missing
	Err    error
}

func (e *MemberError) Error() string {
	switch {
	case e.Report == nil:
		return fmt.Sprintf("%s: %v (never reported)", e.Host, e.Err)
	case errors.Is(e.Err, ErrMissing):
		return fmt.Sprintf("%s: %v (last heartbeat %s)", e.Host, e.Err, e.Report.Heartbeat.Format(time.RFC3339))
	}
	msg := e.Report.Error
	if msg == "" {
		msg = string(e.Report.State)
	}
	return fmt.Sprintf("%s: %v: %s", e.Host, e.Err, msg)
}

func (e *MemberError) Unwrap() error { return e.Err }

// Status returns desired.json and every host's row (members given by
// o.Hosts included even if they never reported).
func Status(ctx context.Context, b *Bucket, o Options) (*Result, error) {
	o.defaults()
	d, _, err := b.Desired(ctx)
	if err != nil && !errors.Is(err, ErrNoDesired) {
		return nil, err
	}
	reps, err := b.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Schema: ResultSchema, Fleet: b.URL(), Desired: d}
	res.Hosts = rows(d, reps, o)
	return res, nil
}

func rows(d *Desired, reps []*HostReport, o Options) []Row {
	byHost := map[string]*HostReport{}
	for _, r := range reps {
		byHost[r.Host] = r
	}
	names := slices.Clone(o.Hosts)
	for _, r := range reps {
		if !slices.Contains(names, r.Host) {
			names = append(names, r.Host)
		}
	}
	slices.Sort(names)
	now := o.Now()
	var out []Row
	for _, h := range names {
		r := byHost[h]
		row := Row{Host: h, Missing: true}
		if r != nil {
			row = Row{Host: h, State: r.State, Generation: r.Generation, Error: r.Error, RolledBack: r.RolledBack,
				Heartbeat: r.Heartbeat.Format(time.RFC3339), AgeSeconds: now.Sub(r.Heartbeat).Seconds(),
				Missing: now.Sub(r.Heartbeat) > o.HeartbeatTimeout}
			if r.Staged != nil {
				row.Staged, row.StagedID = r.Staged.Release, r.Staged.ID
			}
			if r.Live != nil {
				row.Live, row.LiveID = r.Live.Release, r.Live.ID
			}
		}
		if d != nil {
			row.Lag = max(d.Generation-row.Generation, 0)
		}
		out = append(out, row)
	}
	return out
}

// members returns the hosts an operation waits for: o.Hosts, or the
// hosts with a heartbeat within the timeout. Without AllowMissing a
// named host that is missing is an error.
func members(ctx context.Context, b *Bucket, o Options) ([]string, error) {
	reps, err := b.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	now := o.Now()
	var out []string
	if len(o.Hosts) > 0 {
		for _, h := range o.Hosts {
			var rep *HostReport
			for _, r := range reps {
				if r.Host == h {
					rep = r
				}
			}
			if rep == nil || now.Sub(rep.Heartbeat) > o.HeartbeatTimeout {
				if !o.AllowMissing {
					return nil, &MemberError{Host: h, Report: rep, Err: ErrMissing}
				}
				continue
			}
			out = append(out, h)
		}
	} else {
		for _, r := range reps {
			if now.Sub(r.Heartbeat) <= o.HeartbeatTimeout {
				out = append(out, r.Host)
			}
		}
	}
	if len(out) == 0 && !o.AllowMissing {
		return nil, fmt.Errorf("%s: %w reporting within %s (start release-agent with [site.fleet] url = %q, or name them with --hosts)", b.URL(), ErrNoMembers, o.HeartbeatTimeout, b.URL())
	}
	return out, nil
}

// remember returns hist with cur's release appended (if it has one and
// it is not there yet), at most MaxReleases long.
func remember(hist []Labelled, cur *Desired) []Labelled {
	hist = slices.Clone(hist)
	if cur == nil || cur.Release == "" {
		return hist
	}
	hist = slices.DeleteFunc(hist, func(l Labelled) bool { return l.Release == cur.Release })
	hist = append(hist, Labelled{Release: cur.Release, Artifact: cur.Artifact, When: cur.When, Commit: cur.Commit, Message: cur.Message})
	if len(hist) > MaxReleases {
		hist = hist[len(hist)-MaxReleases:]
	}
	return hist
}

// DeployRelease makes every member stage dep, then, once all of them
// have staged it, activate it; it returns when every member is live on it.
//
// If a member rejects or fails to stage it, desired.json is put back to
// the release that was live (phase activate: the members serve it
// already, so nothing switches anywhere) and the error names the member
// and its report (a *MemberError wrapping ErrRejected or ErrMemberFailed).
// A member that stops reporting fails the deploy the same way
// (ErrMissing) unless o.AllowMissing. If another writer changes
// desired.json while it waits, it stops with ErrSuperseded and leaves
// desired.json to that writer.
func DeployRelease(ctx context.Context, b *Bucket, dep Deploy, o Options) (*Result, error) {
	o.defaults()
	start := o.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	hosts, err := retryRead(ctx, o, func() ([]string, error) { return members(ctx, b, o) })
	if err != nil {
		return nil, err
	}
	var prev *Desired
	d, err := b.Update(ctx, func(cur *Desired) (*Desired, error) {
		prev = cur
		next := &Desired{Artifact: dep.Artifact, Release: dep.Label, Phase: PhaseStage, Who: o.Who, When: o.Now().UTC(),
			Message: dep.Message, Commit: dep.Commit}
		var gen int64 = 1
		if cur != nil {
			gen = cur.Generation + 1
			next.Releases = remember(cur.Releases, cur)
		}
		if next.Release == "" {
			next.Release = fmt.Sprintf("r%d", gen)
		}
		if cur != nil {
			if _, dup := cur.Find(next.Release); dup {
				return nil, fmt.Errorf("release label %q is taken in %s: choose another --label, or use activate %s", next.Release, b.URL(), next.Release)
			}
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	o.progress("%s generation %d: stage %s (%s) on %d hosts", b.URL(), d.Generation, d.Release, d.Artifact.URL, len(hosts))
	res, err := wait(ctx, b, d, hosts, o)
	if err != nil {
		var me *MemberError
		if errors.As(err, &me) && prev != nil && prev.Release != "" {
			back, aerr := b.Update(ctx, func(cur *Desired) (*Desired, error) {
				if cur.Generation != d.Generation {
					return nil, fmt.Errorf("%w (generation %d)", ErrSuperseded, cur.Generation)
				}
				art, _ := cur.Find(prev.Release)
				return &Desired{Release: prev.Release, Artifact: art.Artifact, Phase: PhaseActivate, Who: o.Who, When: o.Now().UTC(),
					Commit: art.Commit, Message: "deploy of " + d.Release + " called off: " + me.Error(), Releases: remember(cur.Releases, cur)}, nil
			})
			if aerr != nil {
				return res, fmt.Errorf("%w; and putting desired.json back to %s failed: %v", err, prev.Release, aerr)
			}
			o.progress("called off: desired.json is back to %s (generation %d); no host switched", back.Release, back.Generation)
			if res != nil {
				res.Desired, res.Aborted = back, true
			}
		}
		return res, err
	}
	d, err = b.Update(ctx, func(cur *Desired) (*Desired, error) {
		if cur.Generation != d.Generation {
			return nil, fmt.Errorf("%w: generation %d (%s by %s) replaced %d while its hosts staged", ErrSuperseded, cur.Generation, cur.Release, cur.Who, d.Generation)
		}
		next := *cur
		next.Phase, next.When = PhaseActivate, o.Now().UTC()
		return &next, nil
	})
	if err != nil {
		return res, err
	}
	o.progress("%s generation %d: activate %s", b.URL(), d.Generation, d.Release)
	res, err = wait(ctx, b, d, hosts, o)
	if res != nil {
		res.Seconds = o.Now().Sub(start).Seconds()
	}
	return res, err
}

// Activate makes every member switch to label, a release the fleet
// deployed before (members that lack it stage it first), with one
// conditional write, and waits until every member is live on it.
func Activate(ctx context.Context, b *Bucket, label string, o Options) (*Result, error) {
	return switchTo(ctx, b, func(cur *Desired) (string, error) {
		if _, ok := cur.Find(label); !ok {
			return "", fmt.Errorf("%w: %q (known: %s)", ErrUnknownRelease, label, known(cur))
		}
		return label, nil
	}, o)
}

// Rollback is Activate of to, or, when to is "", of the release desired
// before the current one.
func Rollback(ctx context.Context, b *Bucket, to string, o Options) (*Result, error) {
	if to != "" {
		return Activate(ctx, b, to, o)
	}
	return switchTo(ctx, b, func(cur *Desired) (string, error) {
		for i := len(cur.Releases) - 1; i >= 0; i-- {
			if l := cur.Releases[i].Release; l != cur.Release {
				return l, nil
			}
		}
		return "", fmt.Errorf("%w: %s has no release before %s to roll back to", ErrUnknownRelease, b.URL(), cur.Release)
	}, o)
}

func known(d *Desired) string {
	var ls []string
	for _, l := range d.Releases {
		ls = append(ls, l.Release)
	}
	if !slices.Contains(ls, d.Release) {
		ls = append(ls, d.Release)
	}
	return strings.Join(ls, " ")
}

func switchTo(ctx context.Context, b *Bucket, pick func(cur *Desired) (string, error), o Options) (*Result, error) {
	o.defaults()
	start := o.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	hosts, err := retryRead(ctx, o, func() ([]string, error) { return members(ctx, b, o) })
	if err != nil {
		return nil, err
	}
	d, err := b.Update(ctx, func(cur *Desired) (*Desired, error) {
		if cur == nil {
			return nil, fmt.Errorf("%s: %w: deploy a release first", b.URL(), ErrNoDesired)
		}
		label, err := pick(cur)
		if err != nil {
			return nil, err
		}
		l, _ := cur.Find(label)
		// The release being left is remembered too, so that it can be
		// activated again.
		hist := remember(cur.Releases, cur)
		hist = slices.DeleteFunc(hist, func(x Labelled) bool { return x.Release == label })
		return &Desired{Release: label, Artifact: l.Artifact, Phase: PhaseActivate, Who: o.Who, When: o.Now().UTC(),
			Commit: l.Commit, Message: l.Message, Releases: hist}, nil
	})
	if err != nil {
		return nil, err
	}
	o.progress("%s generation %d: activate %s on %d hosts", b.URL(), d.Generation, d.Release, len(hosts))
	res, err := wait(ctx, b, d, hosts, o)
	if res != nil {
		res.Seconds = o.Now().Sub(start).Seconds()
	}
	return res, err
}

// retryRead runs read until it succeeds, fails for a reason of the
// fleet's (a missing member, no members), or ctx ends: reads are safe to
// repeat, so an S3 that restarts only delays them. Writes of desired.json
// are not retried here (Update retries only lost races): a write whose
// answer was lost cannot be told from one never made, and the command
// fails cleanly instead, naming the error.
func retryRead[T any](ctx context.Context, o Options, read func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := read()
		var me *MemberError
		if err == nil || errors.As(err, &me) || errors.Is(err, ErrNoMembers) || errors.Is(err, ErrSchema) || ctx.Err() != nil {
			return v, err
		}
		o.progress("%v (retrying)", err)
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(backoff.Delay(o.Poll, 5*time.Second, attempt)):
		}
	}
}

func (o *Options) progress(format string, a ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, a...))
	}
}

// wait polls the reports until every host in hosts answers generation
// d.Generation with the state d.Phase asks for (staged or live), one
// rejects or fails, one goes missing, desired.json moves on, or ctx ends.
func wait(ctx context.Context, b *Bucket, d *Desired, hosts []string, o Options) (*Result, error) {
	want := StateStaged
	if d.Phase == PhaseActivate {
		want = StateLive
	}
	seen := map[string]State{}
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	for {
		reps, err := b.Hosts(ctx)
		if err != nil && ctx.Err() == nil {
			o.progress("reading the reports: %v (retrying)", err)
		}
		res := &Result{Schema: ResultSchema, Fleet: b.URL(), Desired: d}
		if err == nil {
			res.Hosts = rows(d, reps, Options{Hosts: hosts, HeartbeatTimeout: o.HeartbeatTimeout, Now: o.Now})
			byHost := map[string]*HostReport{}
			for _, r := range reps {
				byHost[r.Host] = r
			}
			done := 0
			var lagging []string
			for _, h := range hosts {
				r := byHost[h]
				if r == nil || o.Now().Sub(r.Heartbeat) > o.HeartbeatTimeout {
					if !o.AllowMissing {
						return res, &MemberError{Host: h, Report: r, Err: ErrMissing}
					}
					continue
				}
				if r.Generation != d.Generation {
					lagging = append(lagging, fmt.Sprintf("%s (generation %d, %s)", h, r.Generation, r.State))
					continue
				}
				if seen[h] != r.State {
					seen[h] = r.State
					o.progress("%s: %s%s", h, r.State, idOf(r))
				}
				switch {
				case r.State == StateRejected:
					return res, &MemberError{Host: h, Report: r, Err: ErrRejected}
				case r.State == StateFailed:
					return res, &MemberError{Host: h, Report: r, Err: ErrMemberFailed}
				case r.State == want || (want == StateStaged && r.State == StateLive):
					done++
				default:
					lagging = append(lagging, fmt.Sprintf("%s (%s)", h, r.State))
				}
			}
			if len(lagging) == 0 {
				return res, nil
			}
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("%w: %d of %d hosts are %s on %s; waiting for %s", ErrTimeout, done, len(hosts), want, d.Release, strings.Join(lagging, ", "))
			}
		}
		if cur, _, err := b.Desired(ctx); err == nil && cur.Generation != d.Generation {
			return res, fmt.Errorf("%w: generation %d (%s, phase %s, by %s) replaced %d", ErrSuperseded, cur.Generation, cur.Release, cur.Phase, cur.Who, d.Generation)
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return res, fmt.Errorf("%w: %v", ErrTimeout, err)
			}
		case <-t.C:
		}
	}
}

func idOf(r *HostReport) string {
	if r.State != StateStaged && r.State != StateLive {
		return ""
	}
	hr := r.Staged
	if r.State == StateLive {
		hr = r.Live
	}
	if hr == nil || hr.ID == "" {
		return ""
	}
	return " as " + hr.ID
}

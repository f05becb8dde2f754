package trigger

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Outcome is what became of an artifact handed out by Queue.Next.
type Outcome int

const (
	// Deployed: the artifact is live; it is the new high-water mark.
	Deployed Outcome = iota
	// Rejected: the artifact failed validation (or is otherwise bad for
	// good). It is not handed out again until it changes (new ETag or
	// version id).
	Rejected
	// Retry: a transient failure (network, 5xx, timeout, lock busy). The
	// artifact is handed out again after a backoff delay, unless something
	// newer arrived meanwhile, until the RetryPolicy gives up on it.
	Retry
	// Failed: a permanent failure that is not a validation rejection
	// (checksum mismatch, bad archive, 403/404, no marker). Like Rejected
	// the artifact is not handed out again until it changes, and it counts
	// as a give-up after one attempt.
	Failed
	// Superseded: the deploy did not run (another job took its place).
	// The artifact is handed out again, without counting an attempt.
	Superseded
)

// RetryPolicy bounds the retries of one artifact. The zero value means
// the defaults.
type RetryPolicy struct {
	// Attempts is how many failed deploys of one artifact are made
	// before giving up on it (default 5; 1 = never retry).
	Attempts int
	// MaxWait gives up on an artifact once this long has passed since
	// its first failed deploy (default 5m).
	MaxWait time.Duration
	// Backoff is the delay before each retry (capped exponential, with
	// jitter).
	Backoff Backoff
}

func (p RetryPolicy) attempts() int {
	if p.Attempts <= 0 {
		return 5
	}
	return p.Attempts
}

func (p RetryPolicy) maxWait() time.Duration {
	if p.MaxWait <= 0 {
		return 5 * time.Minute
	}
	return p.MaxWait
}

// GiveUp describes an artifact the queue stopped deploying: its event,
// how many deploys of it failed, and the last error.
type GiveUp struct {
	Event    Event
	Attempts int
	Err      error
	Time     time.Time
}

// QueueOptions configure a Queue. The zero value hands out an artifact as
// soon as it arrives.
type QueueOptions struct {
	// Settle is the quiet period: Next hands out the pending artifact
	// only once no newer one arrived for Settle, so that a burst of
	// uploads becomes one deploy of the newest.
	Settle time.Duration
	// MaxDelay bounds the wait caused by Settle under a steady stream of
	// uploads (default 10×Settle).
	MaxDelay time.Duration
	Logger   *slog.Logger
	// Retry bounds the retries of an artifact whose deploy failed.
	Retry RetryPolicy
	// OnGiveUp, if set, is called once for each artifact the queue gives
	// up on (retries used up, or a permanent failure), without the
	// queue's lock held, from the goroutine that called Fail.
	OnGiveUp func(GiveUp)
}

// Queue decides which artifact to deploy next from at-least-once,
// possibly late, duplicated or out-of-order events:
//
//   - an event whose ID equals the live, in-flight or pending artifact is
//     a duplicate and is dropped;
//   - an event that is not newer than the newest artifact already handed
//     out (or set with SetCurrent) is dropped: the queue never goes back;
//   - a burst collapses into its newest event (see Newer);
//   - an artifact reported Rejected is dropped until it changes;
//   - an artifact whose deploy failed for a transient reason (Retry) is
//     handed out again after a backoff delay, at most RetryPolicy.Attempts
//     times and for at most RetryPolicy.MaxWait; then, or at once after a
//     permanent failure (Failed), the queue gives up on it (OnGiveUp) and
//     drops it until it changes. A newer artifact replaces a waiting
//     retry at once: a retry never delays a newer artifact;
//   - deletions are ignored.
//
// One work loop calls Next and Done; any number of triggers may call Add
// concurrently. A Queue is safe for concurrent use.
type Queue struct {
	opts QueueOptions
	log  *slog.Logger

	mu        sync.Mutex
	mark      *Event // newest artifact handed out or set as current
	live      *Event // last Deployed (or SetCurrent)
	inflight  *Event
	pending   *Event
	firstAdd  time.Time // when pending went from empty to set
	lastAdd   time.Time // when pending last changed
	rejected  map[string]struct{}
	notBefore time.Time   // a retrying pending artifact waits until then
	retry     *retryState // the artifact that failed last, if it is retried
	wake      chan struct{}
	nAccepted int
	nDropped  int
}

// retryState counts the failed deploys of one artifact.
type retryState struct {
	id       string
	attempts int
	first    time.Time
}

// NewQueue returns an empty queue.
func NewQueue(opts QueueOptions) *Queue {
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 10 * opts.Settle
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	return &Queue{opts: opts, log: lg, rejected: map[string]struct{}{}, wake: make(chan struct{}, 1)}
}

// Newer reports whether a is a newer artifact than b: for the same key, by
// sequencer when both events carry one; otherwise by time, then by key
// order.
func Newer(a, b Event) bool {
	if a.Bucket == b.Bucket && a.Key == b.Key && a.Sequencer != "" && b.Sequencer != "" && a.Sequencer != b.Sequencer {
		return compareSequencer(a.Sequencer, b.Sequencer) > 0
	}
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return a.Key > b.Key
}

// compareSequencer compares two hex sequencers as AWS documents it: pad the
// shorter with leading zeros, then compare as strings.
func compareSequencer(a, b string) int {
	a, b = strings.ToUpper(a), strings.ToUpper(b)
	for len(a) < len(b) {
		a = "0" + a
	}
	for len(b) < len(a) {
		b = "0" + b
	}
	return strings.Compare(a, b)
}

// SetCurrent tells the queue what is live now (at start-up, or after a
// person deployed or rolled back by hand): it becomes the high-water mark,
// so the queue will not go back behind it on its own.
func (q *Queue) SetCurrent(e Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ev := e
	q.live, q.mark = &ev, &ev
	if q.pending != nil && !Newer(*q.pending, ev) {
		q.pending = nil
	}
}

// Add offers an event and reports whether it became the pending artifact.
func (q *Queue) Add(e Event) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	reason := q.reject(e)
	if reason != "" {
		q.nDropped++
		q.log.Debug("trigger: event dropped", "event", e.String(), "reason", reason)
		return false
	}
	ev := e
	now := time.Now()
	if q.pending == nil {
		q.firstAdd = now
	}
	q.pending = &ev
	q.lastAdd = now
	q.notBefore = time.Time{} // a newer artifact does not wait for a retry's delay
	q.nAccepted++
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

func (q *Queue) reject(e Event) string {
	id := e.ID()
	switch {
	case e.Removed():
		return "deletion"
	case q.live != nil && q.live.ID() == id:
		return "duplicate of the live artifact"
	case q.inflight != nil && q.inflight.ID() == id:
		return "duplicate of the artifact being deployed"
	case q.pending != nil && q.pending.ID() == id:
		return "duplicate of the pending artifact"
	}
	if _, ok := q.rejected[id]; ok {
		return "artifact was rejected before and has not changed"
	}
	if q.mark != nil && !Newer(e, *q.mark) {
		return "older than " + q.mark.String()
	}
	if q.pending != nil && !Newer(e, *q.pending) {
		return "older than the pending " + q.pending.String()
	}
	return ""
}

// Pending returns the artifact Next would hand out, if any.
func (q *Queue) Pending() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		return Event{}, false
	}
	return *q.pending, true
}

// Next waits until an artifact is pending, nothing is in flight and the
// burst has settled, then hands it out (it is now in flight). The caller
// must report the outcome with Done.
func (q *Queue) Next(ctx context.Context) (Event, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		var wait time.Duration = -1
		if q.pending != nil && q.inflight == nil {
			now := time.Now()
			quiet := q.lastAdd.Add(q.opts.Settle)
			deadline := q.firstAdd.Add(q.opts.MaxDelay)
			if q.notBefore.After(quiet) {
				quiet, deadline = q.notBefore, q.notBefore
			}
			if !now.Before(quiet) || !now.Before(deadline) {
				e := *q.pending
				q.pending, q.inflight = nil, &e
				q.notBefore = time.Time{}
				if q.mark == nil || Newer(e, *q.mark) {
					q.mark = &e
				}
				q.mu.Unlock()
				return e, nil
			}
			wait = min(quiet.Sub(now), deadline.Sub(now))
		}
		q.mu.Unlock()
		var tc <-chan time.Time
		if wait >= 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-q.wake:
		case <-tc:
		}
	}
}

// Done reports the outcome of the artifact Next handed out. For a
// failure, Fail says why.
func (q *Queue) Done(e Event, o Outcome) { q.Fail(e, o, nil) }

// Fail reports the outcome o of the artifact Next handed out, with the
// error of a failed deploy (err may be nil). A give-up is logged once, at
// warning level, and passed to OnGiveUp.
func (q *Queue) Fail(e Event, o Outcome, err error) {
	q.mu.Lock()
	gu := q.done(e, o, err, time.Now())
	q.mu.Unlock()
	if gu != nil {
		q.log.Warn("trigger: giving up", "event", e.String(), "attempts", gu.Attempts, "err", err)
		if q.opts.OnGiveUp != nil {
			q.opts.OnGiveUp(*gu)
		}
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// done applies an outcome under q.mu and returns the give-up it causes.
func (q *Queue) done(e Event, o Outcome, err error, now time.Time) *GiveUp {
	id := e.ID()
	if q.inflight != nil && q.inflight.ID() == id {
		q.inflight = nil
	}
	if q.retry != nil && q.retry.id != id {
		q.retry = nil // another artifact: its count starts again
	}
	switch o {
	case Deployed:
		ev := e
		q.live = &ev
		if q.mark == nil || Newer(ev, *q.mark) {
			q.mark = &ev
		}
		q.retry = nil
	case Rejected:
		q.reject1(id)
		q.retry = nil
	case Failed:
		q.reject1(id)
		q.retry = nil
		return &GiveUp{Event: e, Attempts: 1, Err: err, Time: now}
	case Retry:
		if q.retry == nil {
			q.retry = &retryState{id: id, first: now}
		}
		q.retry.attempts++
		r, p := q.retry, q.opts.Retry
		if r.attempts >= p.attempts() || now.Sub(r.first) >= p.maxWait() {
			q.reject1(id)
			q.retry = nil
			return &GiveUp{Event: e, Attempts: r.attempts, Err: err, Time: now}
		}
		if q.pending == nil {
			q.repend(e, now)
			q.notBefore = now.Add(p.Backoff.delay(r.attempts - 1))
			q.log.Info("trigger: deploy failed; retrying", "event", e.String(), "attempt", r.attempts,
				"of", p.attempts(), "in", q.notBefore.Sub(now).Round(time.Millisecond), "err", err)
		}
	case Superseded:
		if q.pending == nil {
			q.repend(e, now)
		}
	}
	return nil
}

// repend makes e pending again (it was handed out and did not deploy).
func (q *Queue) repend(e Event, now time.Time) {
	ev := e
	q.pending = &ev
	q.firstAdd, q.lastAdd = now, now
}

// reject1 drops the artifact id until it changes.
func (q *Queue) reject1(id string) {
	q.rejected[id] = struct{}{}
	if len(q.rejected) > 10_000 { // bound memory; old entries are behind the mark anyway
		clear(q.rejected)
		q.rejected[id] = struct{}{}
	}
}

// Stats returns how many events were accepted and dropped so far.
func (q *Queue) Stats() (accepted, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nAccepted, q.nDropped
}

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
	// Retry: a transient failure (network, lock busy). The artifact is
	// handed out again unless something newer arrived meanwhile.
	Retry
)

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
	wake      chan struct{}
	nAccepted int
	nDropped  int
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
			if !now.Before(quiet) || !now.Before(deadline) {
				e := *q.pending
				q.pending, q.inflight = nil, &e
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

// Done reports the outcome of the artifact Next handed out.
func (q *Queue) Done(e Event, o Outcome) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.inflight != nil && q.inflight.ID() == e.ID() {
		q.inflight = nil
	}
	switch o {
	case Deployed:
		ev := e
		q.live = &ev
		if q.mark == nil || Newer(ev, *q.mark) {
			q.mark = &ev
		}
	case Rejected:
		q.rejected[e.ID()] = struct{}{}
		if len(q.rejected) > 10_000 { // bound memory; old entries are behind the mark anyway
			clear(q.rejected)
			q.rejected[e.ID()] = struct{}{}
		}
	case Retry:
		if q.pending == nil {
			ev := e
			q.pending = &ev
			q.firstAdd, q.lastAdd = time.Now(), time.Now()
		}
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Stats returns how many events were accepted and dropped so far.
func (q *Queue) Stats() (accepted, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nAccepted, q.nDropped
}

package trigger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// giveUps records the queue's OnGiveUp calls.
type giveUps struct {
	mu  sync.Mutex
	got []GiveUp
}

func (g *giveUps) add(x GiveUp) { g.mu.Lock(); g.got = append(g.got, x); g.mu.Unlock() }
func (g *giveUps) list() []GiveUp {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GiveUp(nil), g.got...)
}

var errNet = errors.New("connection refused")

// TestQueueRetryGivesUpAfterAttempts: a transient failure is handed out
// again until Attempts deploys failed, then given up once (OnGiveUp with
// the count and the last error) and dropped until the artifact changes.
func TestQueueRetryGivesUpAfterAttempts(t *testing.T) {
	var g giveUps
	q := NewQueue(QueueOptions{Retry: RetryPolicy{Attempts: 3, Backoff: Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond}}, OnGiveUp: g.add})
	q.Add(ev("a", 1))
	for i := 1; i <= 3; i++ {
		e := next(t, q)
		if e.ETag != "a" {
			t.Fatalf("hand-out %d: %v", i, e)
		}
		if n := len(g.list()); n != 0 {
			t.Fatalf("gave up after %d failures", i-1)
		}
		q.Fail(e, Retry, errNet)
	}
	if _, ok := q.Pending(); ok {
		t.Fatal("artifact pending after its last attempt")
	}
	got := g.list()
	if len(got) != 1 || got[0].Attempts != 3 || !errors.Is(got[0].Err, errNet) || got[0].Event.ETag != "a" {
		t.Fatalf("give-ups = %+v, want one of a after 3 attempts with the last error", got)
	}
	if q.Add(ev("a", 1)) {
		t.Error("an artifact given up on was accepted again unchanged")
	}
	if !q.Add(ev("b", 2)) {
		t.Error("a changed artifact was not accepted after a give-up")
	}
	if len(g.list()) != 1 {
		t.Error("give-up reported more than once")
	}
}

// TestQueueRetryMaxWait: the queue gives up once MaxWait passed since the
// first failure, however many attempts are left.
func TestQueueRetryMaxWait(t *testing.T) {
	q := NewQueue(QueueOptions{Retry: RetryPolicy{Attempts: 100, MaxWait: time.Minute}})
	e := ev("a", 1)
	now := time.Now()
	for _, after := range []time.Duration{0, 30 * time.Second} {
		q.mu.Lock()
		q.inflight, q.pending = &e, nil
		gu := q.done(e, Retry, errNet, now.Add(after))
		q.mu.Unlock()
		if gu != nil {
			t.Fatalf("gave up %s after the first failure", after)
		}
	}
	q.mu.Lock()
	q.inflight, q.pending = &e, nil
	gu := q.done(e, Retry, errNet, now.Add(61*time.Second))
	q.mu.Unlock()
	if gu == nil || gu.Attempts != 3 {
		t.Fatalf("give-up = %+v, want one after 3 attempts past max_wait", gu)
	}
}

// TestQueueNewerReplacesWaitingRetry: an artifact waiting for its retry
// delay (an hour here) does not delay a newer one: Next hands the newer
// out at once.
func TestQueueNewerReplacesWaitingRetry(t *testing.T) {
	q := NewQueue(QueueOptions{Retry: RetryPolicy{Attempts: 5, Backoff: Backoff{Initial: time.Hour, Max: time.Hour}}})
	q.Add(ev("a", 1))
	e := next(t, q)
	q.Fail(e, Retry, errNet)
	if p, ok := q.Pending(); !ok || p.ETag != "a" {
		t.Fatalf("pending = %v, %v; want a waiting for its retry", p, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := q.Next(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next handed out a retry before its delay (err %v)", err)
	}
	if !q.Add(ev("b", 2)) {
		t.Fatal("newer artifact not accepted while a retry waits")
	}
	if e := next(t, q); e.ETag != "b" {
		t.Fatalf("got %v, want b", e)
	}
}

// TestQueueFailedGivesUpAtOnce: a permanent failure is one give-up and the
// artifact is not handed out again.
func TestQueueFailedGivesUpAtOnce(t *testing.T) {
	var g giveUps
	q := NewQueue(QueueOptions{OnGiveUp: g.add})
	q.Add(ev("a", 1))
	q.Fail(next(t, q), Failed, errors.New("403"))
	if got := g.list(); len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("give-ups = %+v", got)
	}
	if _, ok := q.Pending(); ok || q.Add(ev("a", 1)) {
		t.Fatal("a permanently failed artifact is pending or accepted again")
	}
}

// TestQueueSupersededNotCounted: a deploy that did not run does not use up
// an attempt.
func TestQueueSupersededNotCounted(t *testing.T) {
	var g giveUps
	q := NewQueue(QueueOptions{Retry: RetryPolicy{Attempts: 2, Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}}, OnGiveUp: g.add})
	q.Add(ev("a", 1))
	for range 5 {
		q.Fail(next(t, q), Superseded, nil)
	}
	q.Fail(next(t, q), Retry, errNet)
	if len(g.list()) != 0 {
		t.Fatal("superseded hand-outs counted as attempts")
	}
	q.Fail(next(t, q), Retry, errNet)
	if len(g.list()) != 1 {
		t.Fatal("no give-up after 2 failed attempts")
	}
}

// TestBackoffDelay: each delay lies in [d/2, d] for d = Initial·2^attempt
// capped at Max.
func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for attempt, d := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		d *= time.Millisecond
		for range 50 {
			if got := b.delay(attempt); got < d/2 || got > d {
				t.Fatalf("delay(%d) = %s, want within [%s, %s]", attempt, got, d/2, d)
			}
		}
	}
	if got := (Backoff{Initial: time.Hour, Max: time.Hour}).delay(1 << 20); got > time.Hour {
		t.Fatalf("a huge attempt overflowed the cap: %s", got)
	}
}

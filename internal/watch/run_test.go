package watch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pageLog is a Source over page requests kept in memory, as the daemon's
// adapter over accesslog.Window presents them.
type pageLog struct {
	mu sync.Mutex
	rs []request
}

type request struct {
	release string
	at      time.Time
	err     bool
}

func (l *pageLog) add(release string, at time.Time, n, errs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < n; i++ {
		l.rs = append(l.rs, request{release, at, i < errs})
	}
}

func (l *pageLog) Figures(release string, from, to time.Time) Figures {
	l.mu.Lock()
	defer l.mu.Unlock()
	var f Figures
	for _, r := range l.rs {
		if r.release == release && !r.at.Before(from) && r.at.Before(to) {
			f.Pages++
			if r.err {
				f.PageErrors++
			}
		}
	}
	return f
}

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func newClock(t time.Time) *clock    { c := &clock{}; c.set(t); return c }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

var since = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func spec(c *clock) Spec {
	return Spec{Release: "v2", Since: since, Baseline: "v1", Window: time.Minute,
		MaxErrorRate: 2, MinRequests: 100, Poll: time.Millisecond, Now: c.now}
}

// run starts Run and returns a function that waits for its verdict.
func run(t *testing.T, ctx context.Context, src Source, s Spec) (seen func() []Verdict, wait func() (Verdict, error)) {
	t.Helper()
	var mu sync.Mutex
	var vs []Verdict
	type result struct {
		v   Verdict
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := Run(ctx, src, s, func(v Verdict) { mu.Lock(); vs = append(vs, v); mu.Unlock() })
		done <- result{v, err}
	}()
	seen = func() []Verdict { mu.Lock(); defer mu.Unlock(); return append([]Verdict(nil), vs...) }
	wait = func() (Verdict, error) {
		select {
		case r := <-done:
			return r.v, r.err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s")
			return Verdict{}, nil
		}
	}
	return seen, wait
}

// waitPending polls until Run has judged at least n times.
func waitJudged(t *testing.T, seen func() []Verdict, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(seen()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("Run judged %d times, want %d", len(seen()), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunRollsBackAtOnce(t *testing.T) {
	l := &pageLog{}
	l.add("v1", since.Add(-30*time.Second), 200, 1)
	l.add("v1", since.Add(-2*time.Minute), 200, 200) // before v1's last window: not the baseline
	c := newClock(since.Add(time.Second))
	seen, wait := run(t, context.Background(), l, spec(c))
	waitJudged(t, seen, 1)
	l.add("v2", since.Add(time.Second), 100, 20)
	c.add(time.Second)
	v, err := wait()
	if err != nil || v.Decision != Rollback {
		t.Fatalf("Run = %+v, %v; want a rollback", v, err)
	}
	if v.New != (Figures{100, 20}) || v.Baseline != (Figures{200, 1}) {
		t.Errorf("figures %v vs %v, want 20/100 vs 1/200", v.New, v.Baseline)
	}
	if want := "page error rate 20.0% (20/100) vs 0.5% (1/200) v1 before, threshold +2.0 points"; v.Reason != want {
		t.Errorf("Reason = %q, want %q", v.Reason, want)
	}
	for _, p := range seen()[:len(seen())-1] {
		if p.Decision != Pending {
			t.Errorf("a verdict before the last was %s", p.Decision)
		}
	}
}

func TestRunPassesAHealthyRelease(t *testing.T) {
	l := &pageLog{}
	l.add("v1", since.Add(-30*time.Second), 200, 1)
	l.add("v2", since.Add(10*time.Second), 300, 2)
	l.add("v2", since.Add(time.Minute), 300, 300) // after the window: not counted
	c := newClock(since.Add(20 * time.Second))
	seen, wait := run(t, context.Background(), l, spec(c))
	waitJudged(t, seen, 3)
	if d := seen()[2].Decision; d != Pending {
		t.Fatalf("inside the window: %s, want pending", d)
	}
	c.set(since.Add(2 * time.Minute))
	v, err := wait()
	if err != nil || v.Decision != Pass || v.New != (Figures{300, 2}) {
		t.Fatalf("Run = %+v, %v; want a pass on 2/300", v, err)
	}
}

func TestRunQuietReleaseNotJudged(t *testing.T) {
	l := &pageLog{}
	l.add("v1", since.Add(-30*time.Second), 200, 1)
	l.add("v2", since.Add(10*time.Second), 99, 99)
	c := newClock(since.Add(time.Minute))
	_, wait := run(t, context.Background(), l, spec(c))
	v, err := wait()
	if err != nil || v.Decision != NotJudged {
		t.Fatalf("Run = %+v, %v; want not-judged", v, err)
	}
}

func TestRunCanaryAgainstStableSameMinutes(t *testing.T) {
	l := &pageLog{}
	l.add("v1", since.Add(-30*time.Second), 1000, 1000) // stable before the canary: not the baseline
	l.add("v1", since.Add(10*time.Second), 900, 45)     // stable, same minutes: 5%
	l.add("v2", since.Add(10*time.Second), 100, 6)      // canary: 6%, within +2 points
	c := newClock(since.Add(time.Minute))
	s := spec(c)
	s.Canary = true
	_, wait := run(t, context.Background(), l, s)
	v, err := wait()
	if err != nil || v.Decision != Pass || v.Baseline != (Figures{900, 45}) {
		t.Fatalf("Run = %+v, %v; want a pass against 45/900", v, err)
	}
	l.add("v2", since.Add(20*time.Second), 100, 20) // canary now 13%
	_, wait = run(t, context.Background(), l, s)
	if v, _ := wait(); v.Decision != Rollback || v.Reason != "page error rate 13.0% (26/200) vs 5.0% (45/900) stable v1, threshold +2.0 points" {
		t.Fatalf("Run = %+v; want a rollback against stable v1", v)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	l := &pageLog{}
	c := newClock(since)
	ctx, cancel := context.WithCancel(context.Background())
	seen, wait := run(t, ctx, l, spec(c))
	waitJudged(t, seen, 1)
	cancel()
	v, err := wait()
	if !errors.Is(err, context.Canceled) || v.Decision != Pending {
		t.Fatalf("Run = %+v, %v; want pending and context.Canceled", v, err)
	}
}

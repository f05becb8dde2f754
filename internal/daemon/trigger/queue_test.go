package trigger

import (
	"context"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2025, 9, 7, 12, 0, 0, 0, time.UTC)

func ev(etag string, sec int) Event {
	return Event{Bucket: "b", Key: "site.tar.gz", ETag: etag, Time: t0.Add(time.Duration(sec) * time.Second), Name: "s3:ObjectCreated:Put"}
}

func next(t *testing.T, q *Queue) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := q.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

func TestQueueDuplicateAndOutOfOrder(t *testing.T) {
	q := NewQueue(QueueOptions{})
	if !q.Add(ev("a", 1)) {
		t.Fatal("first event not accepted")
	}
	if q.Add(ev("a", 1)) {
		t.Fatal("duplicate of the pending artifact accepted")
	}
	e := next(t, q)
	if e.ETag != "a" {
		t.Fatalf("got %v", e)
	}
	if q.Add(ev("a", 1)) {
		t.Fatal("duplicate of the in-flight artifact accepted")
	}
	q.Done(e, Deployed)
	if q.Add(ev("a", 1)) {
		t.Fatal("duplicate of the live artifact accepted")
	}
	// Out of order: c (newer) arrives before b (older).
	if !q.Add(ev("c", 3)) {
		t.Fatal("newer event not accepted")
	}
	if q.Add(ev("b", 2)) {
		t.Fatal("older event replaced a newer pending one")
	}
	e = next(t, q)
	if e.ETag != "c" {
		t.Fatalf("got %v, want c", e)
	}
	q.Done(e, Deployed)
	if q.Add(ev("b", 2)) {
		t.Fatal("queue went back to an older artifact")
	}
	if _, ok := q.Pending(); ok {
		t.Fatal("something pending after all events were handled")
	}
	if q.Add(Event{Bucket: "b", Key: "site.tar.gz", ETag: "d", Time: t0.Add(9 * time.Second), Name: "s3:ObjectRemoved:Delete"}) {
		t.Fatal("deletion accepted")
	}
}

func TestQueueSequencerBeatsTime(t *testing.T) {
	a := Event{Bucket: "b", Key: "k", ETag: "1", Sequencer: "0055AED6DCD90281E5", Time: t0.Add(time.Second)}
	b := Event{Bucket: "b", Key: "k", ETag: "2", Sequencer: "0055AED6DCD90281E6", Time: t0}
	if !Newer(b, a) || Newer(a, b) {
		t.Fatal("sequencer order not used for the same key")
	}
	if !Newer(Event{Key: "k", Sequencer: "10"}, Event{Key: "k", Sequencer: "F"}) {
		t.Fatal("sequencers of different length not padded")
	}
	if !Newer(Event{Key: "b", Time: t0}, Event{Key: "a", Time: t0}) {
		t.Fatal("key order not the tie breaker")
	}
}

func TestQueueRejectedNotRetriedUntilChanged(t *testing.T) {
	q := NewQueue(QueueOptions{})
	q.SetCurrent(ev("live", 0))
	q.Add(ev("bad", 1))
	e := next(t, q)
	q.Done(e, Rejected)
	if q.Add(ev("bad", 1)) {
		t.Fatal("rejected artifact accepted again")
	}
	if q.Add(ev("bad", 5)) { // same bytes announced again later (e.g. by the poller)
		t.Fatal("rejected artifact accepted again with a later time")
	}
	if !q.Add(ev("fixed", 6)) {
		t.Fatal("changed artifact not accepted")
	}
	if e := next(t, q); e.ETag != "fixed" {
		t.Fatalf("got %v", e)
	}
}

func TestQueueRetryHandsOutAgain(t *testing.T) {
	q := NewQueue(QueueOptions{})
	q.Add(ev("a", 1))
	e := next(t, q)
	q.Done(e, Retry)
	if e2 := next(t, q); e2.ID() != e.ID() {
		t.Fatalf("after Retry got %v, want %v", e2, e)
	}
	// A newer artifact arriving during the attempt wins over the retry.
	q.Add(ev("b", 2))
	q.Done(e, Retry)
	if e3 := next(t, q); e3.ETag != "b" {
		t.Fatalf("got %v, want b", e3)
	}
}

// A burst of 100 events in random order, with duplicates, while a deploy
// is in flight: exactly one more deploy, of the newest.
func TestQueueBurstCoalesced(t *testing.T) {
	q := NewQueue(QueueOptions{})
	q.Add(ev("e000", 0))
	first := next(t, q)
	for _, i := range perm(100) {
		q.Add(ev(fmt.Sprintf("e%03d", i+1), i+1))
		q.Add(ev(fmt.Sprintf("e%03d", i+1), i+1))
	}
	q.Done(first, Deployed)
	e := next(t, q)
	if e.ETag != "e100" {
		t.Fatalf("got %v, want the newest (e100)", e)
	}
	q.Done(e, Deployed)
	if _, ok := q.Pending(); ok {
		t.Fatal("more than one deploy for the burst")
	}
}

// With Settle, Next waits for the burst to end.
func TestQueueSettle(t *testing.T) {
	q := NewQueue(QueueOptions{Settle: 300 * time.Millisecond})
	got := make(chan Event, 1)
	go func() {
		e, err := q.Next(context.Background())
		if err == nil {
			got <- e
		}
	}()
	for i := range 20 {
		q.Add(ev(fmt.Sprintf("e%02d", i), i))
	}
	select {
	case e := <-got:
		if e.ETag != "e19" {
			t.Fatalf("got %v, want e19", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return")
	}
}

func perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	// deterministic shuffle
	for i := n - 1; i > 0; i-- {
		j := (i*7919 + 13) % (i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

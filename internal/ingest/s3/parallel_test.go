package s3

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// TestParallelPanic: a panic in one worker stops the others and is raised
// again in the caller's goroutine, where the pipeline recovers it, even
// when every worker panics (the sender must not block on a channel no
// one reads any more).
func TestParallelPanic(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	for _, everyone := range []bool{false, true} {
		var ran atomic.Int32
		var got any
		func() {
			defer func() { got = recover() }()
			parallel(context.Background(), 4, items, func(ctx context.Context, i int) error {
				ran.Add(1)
				if everyone || i == 3 {
					panic("boom")
				}
				return nil
			})
		}()
		if e, ok := got.(error); !ok || e.Error() != "boom" {
			t.Errorf("everyone=%v: recovered %v, want the worker's panic", everyone, got)
		}
		if everyone && ran.Load() > 4 {
			t.Errorf("every worker panicked, yet %d items ran", ran.Load())
		}
	}
	// An error still cancels the rest and is returned.
	want := errors.New("no")
	if err := parallel(context.Background(), 2, items, func(ctx context.Context, i int) error {
		if i == 5 {
			return want
		}
		return nil
	}); !errors.Is(err, want) {
		t.Errorf("error: %v, want %v", err, want)
	}
}

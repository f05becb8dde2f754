package trigger

import (
	"context"
	"time"

	"github.com/example/release-agent/internal/backoff"
)

// Backoff is a capped exponential backoff with full jitter.
type Backoff struct {
	Initial time.Duration // first delay (default 500ms)
	Max     time.Duration // cap (default 30s)
}

func (b Backoff) delay(attempt int) time.Duration {
	ini, mx := b.Initial, b.Max
	if ini <= 0 {
		ini = 500 * time.Millisecond
	}
	if mx <= 0 {
		mx = 30 * time.Second
	}
	return backoff.Delay(ini, mx, attempt)
}

// sleep waits for the attempt's delay or until ctx is done.
func (b Backoff) sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(b.delay(attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

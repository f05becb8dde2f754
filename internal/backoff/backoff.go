// Package backoff is the one delay formula of every retry in the agent
// (S3 requests, trigger retries, outgoing notifications): capped
// exponential with jitter.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns the wait before retry number attempt (0 for the first
// retry): initial doubled attempt times, capped at max, then a random
// point in [d/2, d], so that retries spread out while the delay still
// grows. Safe for concurrent use.
func Delay(initial, max time.Duration, attempt int) time.Duration {
	d := initial
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

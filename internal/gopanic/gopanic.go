// Package gopanic carries a panic of a worker goroutine to the goroutine
// that waits for the workers, so that one recover there (the deploy
// pipeline's) sees it: a panic in a goroutine of its own would end the
// process, whatever the caller recovers.
package gopanic

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// Value is what Capture.Repanic panics with: the worker's panic value and
// the worker's stack where it happened.
type Value struct {
	V     any
	Stack []byte
}

func (v *Value) String() string { return fmt.Sprint(v.V) }

// Error makes a *Value print as its value in errors and logs.
func (v *Value) Error() string { return fmt.Sprint(v.V) }

// Capture records the first panic of a group of goroutines. The zero
// value is ready; it is safe for concurrent use.
type Capture struct {
	once sync.Once
	v    *Value
}

// Recover must be deferred directly by each worker goroutine (defer
// c.Recover()): it stops a panic there and records the first one.
func (c *Capture) Recover() {
	if r := recover(); r != nil {
		c.once.Do(func() {
			if v, ok := r.(*Value); ok {
				c.v = v
				return
			}
			c.v = &Value{V: r, Stack: debug.Stack()}
		})
	}
}

// Repanic, called after the workers ended, panics with the first recorded
// panic (a *Value), if any.
func (c *Capture) Repanic() {
	if c.v != nil {
		panic(c.v)
	}
}

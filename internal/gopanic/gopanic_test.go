package gopanic

import (
	"strings"
	"sync"
	"testing"
)

// TestRepanicInWaiter: a panic in one of several workers does not end the
// process; the waiter re-raises it with the worker's stack.
func TestRepanicInWaiter(t *testing.T) {
	var got any
	func() {
		defer func() { got = recover() }()
		var c Capture
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				defer c.Recover()
				if i == 2 {
					var m map[string]int
					m["x"]++
				}
			})
		}
		wg.Wait()
		c.Repanic()
	}()
	v, ok := got.(*Value)
	if !ok || !strings.Contains(v.Error(), "nil map") || !strings.Contains(string(v.Stack), "gopanic.TestRepanicInWaiter") {
		t.Fatalf("recovered %#v, want a *Value with the worker's panic and stack", got)
	}
	var c Capture
	c.Repanic() // nothing recorded: no panic
}

// Command releasectl deploys, activates, rolls back and inspects releases
// of a static site. See `releasectl --help`.
//
// It runs rollback and activate on a --root store itself, linking little
// more than the store, because its start-up is most of a rollback's time
// (package cli/switchcmd). Every other command line it hands, unchanged,
// to `release-agent ctl`, which runs the full CLI (package cli).
package main

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"

	"github.com/example/release-agent/internal/cli/switchcmd"
)

func main() {
	args := os.Args[1:]
	if c, ok := switchcmd.Parse(args); ok {
		os.Exit(switchcmd.Run(newSignalContext(), c, os.Stdout, os.Stderr))
	}
	err := switchcmd.HandOver(args)
	os.Exit(switchcmd.Fail(os.Stderr, err, slices.Contains(args, "--json"), nil))
}

// signalContext is canceled by SIGINT or SIGTERM, like the context of
// signal.NotifyContext, but it arms the signals only when something first
// waits on it (Done: waiting for another writer's lock, with --wait).
// Arming costs a dedicated thread, about 0.7 ms of a rollback that takes
// a few; until then the signals keep their default action, which ends the
// process at once: the store is built to survive that at any instant
// (kill -9 included), and what was interrupted is recovered by the next
// writer. Everything releasectl hands to release-agent ctl arms its
// signals there.
type signalContext struct {
	context.Context // the cancelable parent, armed or not
	cancel          context.CancelFunc
	once            sync.Once
}

func newSignalContext() *signalContext {
	ctx, cancel := context.WithCancel(context.Background())
	return &signalContext{Context: ctx, cancel: cancel}
}

func (c *signalContext) Done() <-chan struct{} {
	c.once.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		go func() {
			select {
			case <-ch:
				signal.Stop(ch) // a second signal kills, as with NotifyContext
				c.cancel()
			case <-c.Context.Done():
			}
		}()
	})
	return c.Context.Done()
}

// Deadline, Err and Value come from the parent: Err stays nil until a
// signal was caught, which needs Done to have been called. (Deriving a
// context calls Done, and so arms the signals.)
var _ context.Context = (*signalContext)(nil)

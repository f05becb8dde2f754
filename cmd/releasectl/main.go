// Command releasectl deploys, activates, rolls back and inspects releases
// of a static site. See `releasectl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/cli"
)

func main() {
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	code := cli.Run(newSignalContext(), os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, IsTerminal: err == nil})
	os.Exit(code)
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

// Command releasectl deploys, activates, rolls back and inspects releases
// of a static site. See `releasectl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, IsTerminal: err == nil})
	stop()
	os.Exit(code)
}

// Command release-agent is the daemon that publishes static sites
// atomically; see release-agent(8) and package daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/cli"
	"github.com/example/release-agent/internal/daemon"
)

// version is set at build time: -ldflags '-X main.version=1.2.3'.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// `release-agent ctl ARGS` is the full releasectl: releasectl runs
	// rollback and activate on a --root store itself and hands every other
	// command line here, so that it stays small and starts fast (see
	// package cli/switchcmd).
	if len(os.Args) > 1 && os.Args[1] == "ctl" {
		_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
		code := cli.Run(ctx, os.Args[2:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, IsTerminal: err == nil})
		stop()
		os.Exit(code)
	}
	os.Exit(daemon.Main(ctx, os.Args[1:], version, os.Stdout, os.Stderr))
}

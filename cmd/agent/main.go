// Command release-agent is the daemon that publishes static sites
// atomically; see release-agent(8) and package daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/release-agent/daemon"
)

// version is set at build time: -ldflags '-X main.version=1.2.3'.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(daemon.Main(ctx, os.Args[1:], version, os.Stdout, os.Stderr))
}

// Command release-agent is the daemon that publishes static sites
// atomically; see release-agent(8) and package daemon. The command line
// for people is releasectl (package cli), a separate program.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/release-agent/internal/daemon"
	_ "github.com/example/release-agent/internal/ingest/s3" // s3:// sources
)

// version is set at build time: -ldflags '-X main.version=1.2.3' (the
// Makefile's one recipe, for `make build` and the packages).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := daemon.Main(ctx, os.Args[1:], version, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

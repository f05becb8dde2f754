// Command release-agent is the daemon that publishes static sites
// atomically; see release-agent(8) and package daemon. The command line
// for people is releasectl (package cli), a separate program.
//
// `release-agent fetch-source SPEC [SHA256]` is not for people: it is how
// releasectl, which does not link the S3 client, fetches s3:// sources
// without a daemon (package fetchexec). `release-agent fleet-exec` is how
// it does the S3 work of `releasectl fleet` (package fleetcmd).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/release-agent/internal/daemon"
	"github.com/example/release-agent/internal/fleet/fleetcmd"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/fetchexec"
	"github.com/example/release-agent/internal/ingest/s3"
)

// version is set at build time: -ldflags '-X main.version=1.2.3' (the
// Makefile's one recipe, for `make build` and the packages).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	var code int
	switch {
	case len(os.Args) > 1 && os.Args[1] == fetchexec.Verb:
		code = fetchexec.Serve(ctx, ingest.Openers{"s3": s3.OpenFromEnv}, os.Args[2:], os.Stdout, os.Stderr)
	case len(os.Args) == 2 && os.Args[1] == fleetcmd.Verb:
		code = fleetcmd.Serve(ctx, os.Stdin, os.Stdout, os.Stderr)
	default:
		code = daemon.Main(ctx, os.Args[1:], version, os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}

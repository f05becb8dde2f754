// Command releasectl deploys, activates, rolls back and inspects releases
// of a static site. See `releasectl --help` and releasectl(1).
//
// Everything is in package cli: this main arms SIGINT and SIGTERM (they
// cancel the context: a run waiting for the lock, or deploying, stops
// and changes nothing), runs cli.Run and exits with its status.
//
// releasectl does not link the S3 client (see deps_test.go for why):
// s3:// sources in direct mode are fetched by `release-agent fetch-source`
// (package fetchexec) and extracted here.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/cli"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/fetchexec"
)

// version is set at build time: -ldflags '-X main.version=1.2.3' (the
// Makefile's one recipe, for `make build` and the packages).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, IsTerminal: err == nil, Version: version,
		Sources: ingest.Openers{"s3": fetchexec.Opener("release-agent")}})
	stop()
	os.Exit(code)
}

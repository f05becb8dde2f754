package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/internal/config"
)

const usage = `release-agent: publish static sites atomically, with rollback

Usage:
  release-agent [--config FILE]        run the daemon (systemd: Type=notify)
  release-agent --check-config [--config FILE] [--as-user NAME]
  release-agent --version

Options:
%s
What it does:
  For every [[site]] of the configuration it keeps a release store at ROOT
  (ROOT/releases/vN, ROOT/current -> releases/vN, swapped by rename(2)) and
  runs one work loop: archives renamed into the site's inbox directory, S3
  webhook events and releasectl requests become deploys, one at a time,
  coalesced to the newest. After each swap the site's health check runs
  (an attempt every health.interval; health.failures failed attempts in a
  row, or no pass within health.grace, make the previous release live
  again). Each [[notify]] endpoint is POSTed a JSON document on deploy,
  activate, rollback, rejection and failure, without ever delaying one.

Control socket (releasectl talks to it):
  HTTP+JSON on daemon.control_socket (default /run/release-agent/control.sock),
  paths under /v0/. Root and members of daemon.control_group may deploy,
  activate, roll back, prune and pin; other users who can connect may read.

Signals:
  SIGHUP           reload the configuration; a bad one is rejected and the
                   running one stays
  SIGTERM, SIGINT  stop; deploys in progress are cancelled cleanly
                   (staging removed, current untouched)

systemd:
  READY=1 after recovery and config load; STATUS= per site; WATCHDOG=1 from
  the work loops; RELOADING=1 on SIGHUP; STOPPING=1. Socket activation by
  FileDescriptorName: control, webhook, metrics.

Exit status: 0 stopped cleanly or config valid, 1 error, 2 usage error.
See release-agent(8) for the configuration keys and the SSH recipe.
`

// Main is release-agent's main: it parses args, and runs the daemon (until
// ctx is cancelled) or checks the configuration. It returns the exit code.
func Main(ctx context.Context, args []string, version string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("release-agent", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.StringP("config", "c", config.DefaultPath, "configuration `FILE`")
	check := fs.Bool("check-config", false, "check the configuration and the site roots, print the sites and exit")
	asUser := fs.String("as-user", "", "with --check-config: check the site roots as user `NAME` (the unit's User=; default: who runs it)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	help := fs.BoolP("help", "h", false, "show this help")
	logLevel := fs.String("log-level", "info", "log `LEVEL`: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "release-agent: %v\n\n", err)
		fmt.Fprintf(stderr, usage, fs.FlagUsages())
		return 2
	}
	switch {
	case *help:
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, usage, fs.FlagUsages())
		return 0
	case *showVersion:
		fmt.Fprintf(stdout, "release-agent %s\n", version)
		return 0
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "release-agent: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "release-agent: --log-level: %v\n", err)
		return 2
	}
	if *check {
		return checkConfig(*cfgPath, *asUser, stdout, stderr)
	}
	log := slog.New(newLogHandler(stderr, level, os.Getenv("JOURNAL_STREAM") != ""))
	slog.SetDefault(log)
	err := Run(ctx, Options{ConfigPath: *cfgPath, Version: version, Log: log})
	if err != nil {
		log.Error("release-agent failed", "err", err)
		if errors.Is(err, ErrConfig) {
			fmt.Fprintf(stderr, "release-agent: %v\n", err)
		}
		return 1
	}
	return 0
}

// checkConfig is --check-config: every problem of the file (file, line,
// key) and of the site roots as seen by user asUser ("" = the caller), one
// a line on stderr, and 1; or the sites on stdout, and 0.
func checkConfig(path, asUser string, stdout, stderr io.Writer) int {
	u, err := config.LookupRootsUser(asUser)
	if err != nil {
		fmt.Fprintf(stderr, "release-agent: --as-user: %v\n", err)
		return 2
	}
	cfg, err := config.LoadHostAs(path, u)
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "release-agent: %s: %d problem(s)\n", path, len(errs))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok, %d site(s), roots writable by user %s\n", cfg.Path, len(cfg.Sites), u.Name)
	if asUser == "" && u.UID == 0 {
		fmt.Fprintln(stdout, "  (root may write anywhere: check as the unit's User= with --as-user release-agent)")
	}
	for _, s := range cfg.Sites {
		fmt.Fprintf(stdout, "  %s: root %s", s.Name, s.Root)
		if s.Triggers.Inbox != "" {
			fmt.Fprintf(stdout, ", inbox %s", s.Triggers.Inbox)
		}
		if s.Source != "" {
			fmt.Fprintf(stdout, ", source %s", s.Source)
		}
		if s.Health != nil {
			fmt.Fprintf(stdout, ", health check %d URL(s)", len(s.Health.URLs)+len(s.Health.Checks))
		}
		fmt.Fprintln(stdout)
	}
	return 0
}

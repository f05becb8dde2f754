// Package cli is releasectl's full command line: global flags, verbs,
// output and exit codes. `release-agent ctl` (cmd/agent) is a thin main
// around Run, so every verb is testable in-process and through the built
// binaries alike; releasectl runs rollback and activate on a --root store
// itself (package cli/switchcmd) and hands every other command line here.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/cli/full"
	"github.com/example/release-agent/internal/cli/switchcmd"
)

// Env is what a run of releasectl sees of the world.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// IsTerminal reports whether Stderr is a terminal (progress lines).
	IsTerminal bool
}

// Global options, valid before or after the verb.
type globals struct {
	root, site, config, socket string
	json                       bool
	wait                       time.Duration
	help, version              bool
}

func (g *globals) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.root, "root", "", "release root `DIR` (holds current, releases/, state/); works without a daemon")
	fs.StringVar(&g.site, "site", "", "site `NAME` from the configuration")
	fs.StringVar(&g.config, "config", DefaultConfig, "configuration `FILE` (for --site without a running daemon)")
	fs.StringVar(&g.socket, "socket", defaultSocket(), "control socket `PATH` of release-agent (default $RELEASE_AGENT_SOCKET, else "+DefaultSocket+")")
	fs.BoolVar(&g.json, "json", false, "print one JSON document (with a schema version) on stdout; errors as JSON on stderr")
	fs.DurationVar(&g.wait, "wait", 0, "wait up to `DURATION` (e.g. 30s) for another writer's lock instead of failing at once")
	fs.BoolVarP(&g.help, "help", "h", false, "show help")
	fs.BoolVar(&g.version, "version", false, "print the version")
}

// Defaults.
var (
	DefaultSocket = "/run/release-agent/control.sock"
	DefaultConfig = "/etc/release-agent/config.toml"
	Version       = "dev"
)

// verb is one subcommand.
type verb struct {
	name, args, short string
	long              string
	flags             func(fs *pflag.FlagSet, o *verbOpts)
	minArgs, maxArgs  int
	noConnect         bool // the verb picks its service itself
	run               func(ctx context.Context, c *cmd, args []string) (any, error)
}

// verbOpts holds every verb's flags (each verb registers the ones it uses).
type verbOpts struct {
	sha256   string
	noHash   bool
	noVerify bool
	keep     int
	to       string
	limit    int
	dryRun   bool
	reason   string
	allow    string
	timeout  time.Duration
}

// cmd is one invocation.
type cmd struct {
	env Env
	g   globals
	o   verbOpts
	svc api.Service
	// direct is set when svc works on the stores in this process (not
	// through the daemon).
	direct bool
}

func (c *cmd) target() api.Target { return api.Target{Root: c.g.root, Site: c.g.site} }

// Run runs releasectl with args (without the program name) and returns the
// exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	c := &cmd{env: env}
	name, rest := splitVerb(args)
	v := findVerb(name)
	fs := pflag.NewFlagSet("releasectl", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	c.g.addFlags(fs)
	if v != nil && v.flags != nil {
		v.flags(fs, &c.o)
	}
	if err := fs.Parse(rest); err != nil {
		return c.fail(api.Usagef("%v (see releasectl %s --help)", err, name))
	}
	switch {
	case c.g.version:
		fmt.Fprintln(env.Stdout, "releasectl", Version)
		return api.ExitOK
	case name == "" || name == "help":
		if name == "help" && fs.NArg() > 0 {
			if v := findVerb(fs.Arg(0)); v != nil {
				printVerbHelp(env.Stdout, v)
				return api.ExitOK
			}
		}
		printHelp(env.Stdout)
		if name == "" && !c.g.help {
			return api.ExitUsage
		}
		return api.ExitOK
	case v == nil:
		return c.fail(api.Usagef("unknown verb %q; run releasectl --help for the list", name))
	case c.g.help:
		printVerbHelp(env.Stdout, v)
		return api.ExitOK
	}
	pos := fs.Args()
	if len(pos) < v.minArgs || (v.maxArgs >= 0 && len(pos) > v.maxArgs) {
		return c.fail(api.Usagef("usage: releasectl %s %s", v.name, v.args))
	}
	if !v.noConnect {
		if err := c.connect(ctx); err != nil {
			return c.fail(err)
		}
	}
	out, err := v.run(ctx, c, pos)
	if err != nil {
		return c.fail(err)
	}
	if c.g.json && out != nil {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return api.ExitFailed
		}
	}
	return api.ExitOK
}

// splitVerb finds the verb: the first argument that is neither a flag nor
// the value of a global flag that takes one.
func splitVerb(args []string) (string, []string) {
	valued := map[string]bool{"--root": true, "--site": true, "--config": true, "--socket": true, "--wait": true,
		"--timeout": true, "--sha256": true, "--keep": true, "--to": true, "--limit": true, "-n": true, "--reason": true, "--allow": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) {
				return args[i+1], append(append([]string{}, args[:i]...), args[i+2:]...)
			}
			return "", args[:i]
		}
		if strings.HasPrefix(a, "-") {
			if valued[a] {
				i++
			}
			continue
		}
		return a, append(append([]string{}, args[:i]...), args[i+1:]...)
	}
	return "", args
}

func findVerb(name string) *verb {
	for i := range verbs {
		if verbs[i].name == name {
			return &verbs[i]
		}
	}
	return nil
}

// fail prints err (as JSON with --json) and returns its exit status.
func (c *cmd) fail(err error) int {
	if ee, ok := err.(*exitError); ok {
		return ee.code
	}
	return switchcmd.Fail(c.env.Stderr, err, c.g.json, printReport)
}

// backend returns the service and the deploy machinery that the program
// registered (release-agent ctl registers them through package config);
// tests may replace it.
var backend = full.Get

// connect picks the service: the daemon over its socket for --site (or no
// target) when the socket answers, otherwise the stores directly: with
// --root the store at DIR, with --site the sites of --config.
func (c *cmd) connect(ctx context.Context) error {
	if c.g.root != "" && c.g.site != "" {
		return api.Usagef("give --root or --site, not both")
	}
	fb := backend()
	if fb == nil {
		// Only a program that links package config runs the full CLI.
		return errors.New("internal error: no full.Backend registered (import package config)")
	}
	if c.g.root != "" {
		c.direct = true
		var err error
		c.svc, err = fb.Open("", c.progress())
		return err
	}
	d, err := fb.Daemon(ctx, c.g.socket)
	if err == nil {
		c.svc = d
		return nil
	}
	if !errors.Is(err, api.ErrNoDaemon) {
		return err
	}
	if c.g.site == "" && c.g.config == DefaultConfig && !fileExists(c.g.config) {
		return api.Usagef("no --root given and release-agent is not running (%v); give --root DIR to work on a release root directly", err)
	}
	if !c.g.json {
		fmt.Fprintf(c.env.Stderr, "releasectl: release-agent is not running (%v); working on the store directly\n", err)
	}
	c.direct = true
	c.svc, err = fb.Open(c.g.config, c.progress())
	return err
}

// progress returns the progress line drawer for direct deploys, or nil.
func (c *cmd) progress() func(full.Progress) {
	if c.env.IsTerminal && !c.g.json {
		return newProgress(c.env.Stderr)
	}
	return nil
}

func defaultSocket() string {
	if s := os.Getenv("RELEASE_AGENT_SOCKET"); s != "" {
		return s
	}
	return DefaultSocket
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

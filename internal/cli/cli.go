// Package cli is releasectl: one command-line parser (pflag) for every
// verb, the output for people and for --json, and the exit codes. The
// main of cmd/releasectl is a thin wrapper around Run, so every verb is
// testable in-process and through the built binary alike.
//
// releasectl is a client of release-agent over its control socket when the
// daemon runs, and works on the release stores itself (package service,
// under the same lock) when it does not, or when --root names a store:
// the split is by role, not by syntax, and one program handles every
// command line.
//
// # Start-up
//
// A rollback is timed as a whole process, start-up included, so releasectl
// links what its verbs need and no more: not the daemon, its metrics or
// systemd (cmd/releasectl's deps test). See cmd/releasectl for the
// measured cost of what it does link.
package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

// Env is what a run of releasectl sees of the world.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Stdin is read by `deploy -` and `stage -`; nil means os.Stdin.
	Stdin io.Reader
	// IsTerminal reports whether Stderr is a terminal (progress lines).
	IsTerminal bool
	// Version is what --version prints ("dev" if empty): the main's
	// version, set at build time with -ldflags '-X main.version=...'.
	Version string
	// Sources opens the SOURCE schemes of deploys run in this process
	// (without a daemon) other than local paths; nil: local paths only.
	Sources ingest.Openers
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
	fs.StringVar(&g.config, "config", config.DefaultPath, "configuration `FILE` (for --site without a running daemon)")
	fs.StringVar(&g.socket, "socket", defaultSocket(), "control socket `PATH` of release-agent (default $RELEASE_AGENT_SOCKET, else "+client.DefaultSocket+")")
	fs.BoolVar(&g.json, "json", false, "print one JSON document (with a schema version) on stdout; errors as JSON on stderr")
	fs.DurationVar(&g.wait, "wait", 0, "wait up to `DURATION` (e.g. 30s) for another writer's lock instead of failing at once")
	fs.BoolVarP(&g.help, "help", "h", false, "show help")
	fs.BoolVar(&g.version, "version", false, "print the version")
}

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
	follow bool // events --follow (events.go)

	sha256    string
	noHash    bool
	noVerify  bool
	keep      int
	olderThan time.Duration
	to        string
	limit     int
	dryRun    bool
	reason    string
	percent   int
	allow     string
	timeout   time.Duration
	repair    bool
	full      bool
	all       bool

	// Provenance of deploy and stage (provenance.go).
	commit  string
	message string
	meta    []string
	// ssh-command --allow-stdin (sshcommand.go).
	allowStdin bool

	// validate (validate.go) and deploy --dry-run/--force (cictl).
	baseline  string
	format    string
	formatSet bool
	force     bool

	// releasectl fleet (fleet.go).
	fleet fleetOpts
}

// fleetOpts are the flags of `releasectl fleet`.
type fleetOpts struct {
	url          string
	label        string
	hosts        []string
	allowMissing bool
	hbTimeout    time.Duration
}

// check refuses flag values the parser accepts but no verb can use, so
// that they are usage errors (exit 2) naming the flag, before anything
// runs: a --sha256 that is not 64 hex digits, a --timeout that is not
// positive (0 would otherwise mean "no timeout" silently).
func (o *verbOpts) check(fs *pflag.FlagSet) error {
	if fs.Changed("sha256") {
		s := strings.TrimSpace(o.sha256)
		if _, err := hex.DecodeString(s); err != nil || len(s) != 64 {
			return fmt.Errorf("--sha256 %q: want 64 hex digits (the sha256 of the artifact)", o.sha256)
		}
	}
	o.formatSet = fs.Changed("format")
	if fs.Changed("timeout") && o.timeout <= 0 {
		return fmt.Errorf("--timeout %s: want a positive duration such as 10m", o.timeout)
	}
	return nil
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
	// clearProgress, if set, clears the progress line on the terminal.
	clearProgress func()
}

func (c *cmd) target() api.Target { return api.Target{Root: c.g.root, Site: c.g.site} }

// Run runs releasectl with args (without the program name) and returns the
// exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = os.Stdin
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
		if v == nil {
			name = ""
		}
		return c.fail(flagError(err, name, fs))
	}
	if err := c.o.check(fs); err != nil {
		return c.fail(api.Usagef("%v (see releasectl %s --help)", err, name))
	}
	switch {
	case c.g.version:
		version := env.Version
		if version == "" {
			version = "dev"
		}
		fmt.Fprintln(env.Stdout, "releasectl", version)
		return api.ExitOK
	case name == "" || name == "help":
		if name == "help" && fs.NArg() > 0 {
			if v := findVerb(fs.Arg(0)); v != nil {
				return c.help(func(w io.Writer) { printVerbHelp(w, v) }, api.ExitOK)
			}
		}
		if name == "" && !c.g.help {
			return c.help(printHelp, api.ExitUsage)
		}
		return c.help(printHelp, api.ExitOK)
	case v == nil:
		return c.fail(unknownVerb(name))
	case c.g.help:
		return c.help(func(w io.Writer) { printVerbHelp(w, v) }, api.ExitOK)
	}
	pos := fs.Args()
	if len(pos) < v.minArgs || (v.maxArgs >= 0 && len(pos) > v.maxArgs) {
		return c.fail(api.Usagef("usage: releasectl %s %s", v.name, v.args))
	}
	if !c.g.json {
		ctx = releases.WithWaiting(ctx, c.waiting)
	}
	if !v.noConnect {
		if err := c.connect(ctx); err != nil {
			return c.fail(err)
		}
	}
	out, err := v.run(ctx, c, pos)
	if c.clearProgress != nil {
		c.clearProgress()
	}
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

// HelpResult is what --json --help prints: the help text inside the one
// JSON document --json promises on stdout.
type HelpResult struct {
	Schema int    `json:"schema"`
	Help   string `json:"help"`
}

// help prints the help text print writes, as text, or with --json as a
// HelpResult document, and returns code.
func (c *cmd) help(print func(io.Writer), code int) int {
	if !c.g.json {
		print(c.env.Stdout)
		return code
	}
	var b strings.Builder
	print(&b)
	enc := json.NewEncoder(c.env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&HelpResult{Schema: api.Schema, Help: b.String()}); err != nil {
		return api.ExitFailed
	}
	return code
}

// splitVerb finds the verb: the first argument that is neither a flag nor
// the value of a global flag that takes one.
func splitVerb(args []string) (string, []string) {
	valued := valuedFlags()
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
	return Fail(c.env.Stderr, err, c.g.json)
}

// waiting says on stderr that releasectl waits (--wait) for another
// writer's lock, and whose.
func (c *cmd) waiting(h *releases.Holder) {
	who := "another writer"
	if h != nil {
		who = fmt.Sprintf("pid %d (%q", h.PID, h.Command)
		if h.Op != "" {
			who += ", " + h.Op
		}
		who += ", since " + h.Since.Format(time.RFC3339) + ")"
	}
	fmt.Fprintf(c.env.Stderr, "releasectl: waiting up to %s for the lock held by %s\n", c.g.wait, who)
}

// connect picks the service: the daemon over its socket for --site (or no
// target) when the socket answers, otherwise the stores directly: with
// --root the store at DIR, with --site the sites of --config.
func (c *cmd) connect(ctx context.Context) error {
	if c.g.root != "" && c.g.site != "" {
		return api.Usagef("give --root or --site, not both")
	}
	if c.g.root != "" {
		c.direct = true
		c.svc = c.local(nil)
		return nil
	}
	d := &client.Client{Socket: c.g.socket}
	_, err := d.Ping(ctx)
	if err == nil {
		c.svc = d
		return nil
	}
	if !errors.Is(err, api.ErrNoDaemon) {
		return err
	}
	if c.g.site == "" && c.g.config == config.DefaultPath && !fileExists(c.g.config) {
		return api.Usagef("no --root given and release-agent is not running (%v); give --root DIR to work on a release root directly", err)
	}
	if !c.g.json {
		fmt.Fprintf(c.env.Stderr, "releasectl: release-agent is not running (%v); working on the store directly\n", err)
	}
	cfg, err := config.Load(c.g.config)
	if err != nil {
		return err
	}
	c.direct = true
	c.svc = c.local(service.SitesFromConfig(cfg))
	return nil
}

// local returns the service working on the stores in this process: sites
// from the configuration, or none (a --root target).
func (c *cmd) local(sites map[string]*service.Site) api.Service {
	if sites == nil {
		sites = map[string]*service.Site{}
	}
	l := &service.Local{Via: "cli", Sites: sites, Sources: c.env.Sources}
	if c.env.IsTerminal && !c.g.json {
		l.Progress, c.clearProgress = newProgress(c.env.Stderr)
	}
	return directService{l}
}

// directService is the service releasectl runs itself.
type directService struct{ *service.Local }

// Validate runs with the garbage collector at GOGC=50 unless GOGC is set:
// the peak memory of a validation is part of its contract (at most a tenth
// of htmltest's on the same tree). On python3.11-doc, three runs each:
// peak RSS 33-38 MB instead of 40-44 MB, for 5-10% more time. The daemon
// validates with its own settings.
func (l directService) Validate(ctx context.Context, req api.ValidateRequest) (*api.ValidateResult, error) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(50))
	}
	return l.Local.Validate(ctx, req)
}

func defaultSocket() string {
	if s := os.Getenv("RELEASE_AGENT_SOCKET"); s != "" {
		return s
	}
	return client.DefaultSocket
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// progress is the type of deploy progress reports.
type progress = deploy.Progress

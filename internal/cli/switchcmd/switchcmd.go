// Package switchcmd is what releasectl runs itself: rollback and activate
// on a release root named with --root, the two verbs whose latency is the
// product's promise. Every other command line goes, unchanged, to
// `release-agent ctl` (package cli), which links the rest: pflag, the
// tables, the daemon's client and the deploy machinery.
//
// Start-up is most of a rollback's time. On a small VM the Go runtime
// alone takes 1.6× as long as the whole of `mv -T`, and each linked
// package adds its init and its first-touch page faults: releasectl
// linking the full CLI started about 1.5 ms slower than it does linking
// only this package and the store. So the split is by command line:
//
//   - Parse accepts a strict subset of releasectl's syntax and declines
//     everything else: unknown or repeated flags, -h and --help, --, a
//     flag without a value or with an empty one, a value that starts
//     with "-", the wrong number of arguments, any other verb. The caller
//     then hands the command line to release-agent ctl. The two programs
//     cannot disagree about syntax, and every message about a bad command
//     line comes from one place (package cli).
//   - Run executes what Parse accepted through the same store code
//     (storesvc.Switch) as release-agent ctl, with the same output, --json
//     documents and exit statuses; TestSameAsFullCLI holds it to that.
//
// Nothing in this package keeps state; Parse and Run are safe to call
// concurrently (the store serialises writers with its lock).
package switchcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/storesvc"
)

// Command is one parsed switch: `releasectl --root DIR rollback [--to vN]
// [--reason TEXT]` or `releasectl --root DIR activate vN`, with --json and
// --wait DURATION allowed anywhere.
type Command struct {
	Verb   string // "rollback" or "activate"
	Root   string
	ID     string // activate's argument, rollback's --to; may be empty for rollback
	Reason string // rollback's --reason
	Wait   time.Duration
	JSON   bool
}

// Parse returns the switch that args (without the program name) ask for,
// or false if args are anything else, including anything malformed: those
// are for release-agent ctl, which explains what is wrong with them.
func Parse(args []string) (Command, bool) {
	var c Command
	var pos []string
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			if c.Verb == "" {
				c.Verb = a
			} else {
				pos = append(pos, a)
			}
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		if seen[name] {
			return Command{}, false
		}
		seen[name] = true
		if name == "--json" {
			if hasVal {
				return Command{}, false
			}
			c.JSON = true
			continue
		}
		switch name {
		case "--root", "--wait", "--to", "--reason":
		default:
			return Command{}, false
		}
		if !hasVal {
			if i+1 == len(args) {
				return Command{}, false
			}
			i++
			val = args[i]
		}
		if val == "" || strings.HasPrefix(val, "-") {
			return Command{}, false
		}
		switch name {
		case "--root":
			c.Root = val
		case "--to":
			c.ID = val
		case "--reason":
			c.Reason = val
		case "--wait":
			d, err := time.ParseDuration(val)
			if err != nil {
				return Command{}, false
			}
			c.Wait = d
		}
	}
	if c.Root == "" {
		return Command{}, false
	}
	switch c.Verb {
	case "rollback":
		if len(pos) != 0 {
			return Command{}, false
		}
	case "activate":
		if len(pos) != 1 || seen["--to"] || seen["--reason"] {
			return Command{}, false
		}
		c.ID = pos[0]
	default:
		return Command{}, false
	}
	return c, true
}

// Run performs c on the store at c.Root, prints the outcome (stdout) and
// any recovered leftovers and errors (stderr) as releasectl does, and
// returns the exit status. The switch itself is the store's: atomic, and
// durable before Run reports success (see releases.Store).
func Run(ctx context.Context, c Command, stdout, stderr io.Writer) int {
	req := api.ActivateRequest{Target: api.Target{Root: c.Root}, ID: c.ID, Wait: c.Wait, Reason: c.Reason}
	r, err := storesvc.SwitchRoot(ctx, req, "cli", c.Verb == "rollback")
	if err != nil {
		return Fail(stderr, err, c.JSON, nil)
	}
	if c.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return api.ExitFailed
		}
		return api.ExitOK
	}
	PrintSwitch(stdout, stderr, r)
	return api.ExitOK
}

// PrintSwitch prints the outcome of activate or rollback for people: the
// leftovers of an interrupted run that were recovered (stderr), then one
// line (stdout).
func PrintSwitch(stdout, stderr io.Writer, r *api.ActivateResult) {
	PrintCleaned(stderr, r.Cleaned)
	if r.From == r.To {
		fmt.Fprintf(stdout, "%s is already live\n", r.To)
		return
	}
	from := r.From
	if from == "" {
		from = "nothing"
	}
	fmt.Fprintf(stdout, "%s is live (was %s), switched in %s\n", r.To, from, time.Duration(r.Seconds*float64(time.Second)).Round(10*time.Microsecond))
}

// PrintCleaned prints one line per leftover of an interrupted run that a
// writer recovered.
func PrintCleaned(w io.Writer, cleaned []string) {
	for _, s := range cleaned {
		fmt.Fprintln(w, "recovered:", s)
	}
}

// Fail prints err for releasectl's user and returns its exit status (see
// api.ErrorOf): as an indented JSON document with asJSON, else as one
// "releasectl: ..." line, then the validation report if the error carries
// one (printed by report, if not nil), then a pointer to --help for usage
// errors.
func Fail(w io.Writer, err error, asJSON bool, report func(io.Writer, any)) int {
	e := api.ErrorOf(err)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(e)
		return e.Exit
	}
	msg := e.Message
	if errors.Is(err, context.Canceled) {
		msg = "interrupted; nothing was changed"
	}
	fmt.Fprintf(w, "releasectl: %s\n", msg)
	if e.Report != nil && report != nil {
		report(w, e.Report)
	}
	if e.Exit == api.ExitUsage && !strings.Contains(msg, "--help") {
		fmt.Fprintln(w, "run releasectl --help for usage")
	}
	return e.Exit
}

// Helper is the program that runs every command line releasectl does not
// run itself, as `Helper ctl ARGS`. It is looked for beside releasectl,
// then on PATH; a name with a slash is used as it is.
var Helper = "release-agent"

// execve replaces the process; tests replace it.
var execve = syscall.Exec

// HandOver replaces the process (execve) with `Helper ctl args`: the same
// command line, run by the program that links everything, with the same
// pid, terminal and signals. Nothing has been done before it. It returns
// only on error.
func HandOver(args []string) error {
	bin, err := helperPath()
	if err != nil {
		return err
	}
	argv := append([]string{bin, "ctl"}, args...)
	if err := execve(bin, argv, os.Environ()); err != nil {
		return fmt.Errorf("running %s ctl: %w", bin, err)
	}
	return nil
}

// helperPath finds Helper as HandOver documents. Like os/exec.LookPath
// (not linked, for start-up's sake), it ignores relative PATH entries.
func helperPath() (string, error) {
	if strings.Contains(Helper, "/") {
		return Helper, nil
	}
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), Helper); isExecutable(p) {
			return p, nil
		}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p := filepath.Join(dir, Helper); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("this needs %s (installed with releasectl; it runs every command but rollback and activate on a --root store), not found beside releasectl or on PATH", Helper)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

// The validate verb: a directory or a release, against the live release of
// a site (--root, --site or the running daemon's), against a saved report
// (--baseline), or on its own (a CI job: no store, no daemon).

// Output formats of validate.
const (
	formatText   = "text"
	formatJSON   = "json"
	formatGitHub = "github"
)

func validateFlags(fs *pflag.FlagSet, o *verbOpts) {
	fs.StringVar(&o.baseline, "baseline", "", "compare with the report `FILE` of an earlier run (validate --json > FILE): only new findings block")
	fs.StringVar(&o.format, "format", formatText, "output `FORMAT`: text, json (= --json) or github (workflow annotations)")
	fs.BoolVar(&o.all, "all", false, "list every finding (text; the default lists 20 per kind)")
}

var validateVerb = verb{
	name: "validate", args: "DIR|vN", short: "validate a directory (in CI, or against a site's live release) or a release",
	long: `Checks links, assets, fragments, source maps, required files and size
budgets offline; external links are counted, never fetched.

Where the findings are compared:
  --root DIR or --site NAME, or a running release-agent: against the site's
      live release, as a deploy would be; only new findings block.
  --baseline FILE: against a report saved from an earlier run (for
      example on the main branch, with --json); only new findings block.
      A finding is the same when its kind, file and reference (as written)
      are: its line may move.
  none of these (a CI job): on its own; every finding blocks.
A directory is read by releasectl itself, with your rights.

Output: text (new findings first, 20 per kind; --all lists every one),
--json / --format json (the document {"schema","rejected","report"} on
stdout whatever the outcome; an error object on stderr), or --format github
(one ::error workflow command per blocking finding, ::warning for the
others). Exit status 3 when a finding blocks.`,
	flags: validateFlags, minArgs: 1, maxArgs: 1, noConnect: true,
	run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.validate(ctx, a[0]) },
}

// validateFormat checks --format against --json and returns the format.
func (c *cmd) validateFormat() (string, error) {
	f := c.o.format
	switch f {
	case formatText, formatJSON, formatGitHub:
	default:
		return "", api.Usagef("--format %q: want text, json or github", f)
	}
	if c.g.json {
		if c.o.formatSet && f != formatJSON {
			return "", api.Usagef("--json and --format %s: give one (--json is --format json)", f)
		}
		f = formatJSON
	}
	if f == formatJSON {
		c.g.json = true // errors as JSON on stderr too
	}
	return f, nil
}

func (c *cmd) validate(ctx context.Context, arg string) (any, error) {
	format, err := c.validateFormat()
	if err != nil {
		return nil, err
	}
	_, isID := releases.ParseID(arg)
	targeted := c.g.root != "" || c.g.site != ""
	var res *api.ValidateResult
	switch {
	case c.o.baseline != "":
		if isID || targeted {
			return nil, api.Usagef("--baseline compares a directory with a saved report: give a DIR and no --root or --site")
		}
		base, err := readBaseline(c.o.baseline)
		if err != nil {
			return nil, err
		}
		if res, err = validateAlone(ctx, arg); err != nil {
			return nil, err
		}
		res.Report.ApplyBaseline(base, c.o.baseline)
		res.Rejected = res.Report.Rejected()
	case isID || targeted:
		if err := c.connect(ctx); err != nil {
			return nil, err
		}
		if res, err = c.validateSite(ctx, arg, isID); err != nil {
			return nil, err
		}
	default:
		// No store named: the running daemon's site, else on its own.
		d := &client.Client{Socket: c.g.socket}
		switch _, err := d.Ping(ctx); {
		case err == nil:
			c.svc = d
			if res, err = c.validateSite(ctx, arg, false); err != nil {
				return nil, err
			}
		case errors.Is(err, api.ErrNoDaemon):
			if res, err = validateAlone(ctx, arg); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	dir := arg
	if isID {
		dir = "" // a release: files are named as in the release
	}
	if err := writeValidation(c, format, dir, res); err != nil {
		return nil, err
	}
	if res.Rejected {
		msg := fmt.Sprintf("rejected by validation: %d blocking findings", res.Report.Blocking)
		if format == formatText {
			msg += " (report above)"
		}
		return nil, &api.Error{Schema: api.Schema, Code: "rejected", Exit: api.ExitRejected, Message: msg}
	}
	return nil, nil
}

// validateSite validates arg with c.svc: a release of the target, or a
// directory against its live release. The daemon never reads a directory
// for a caller, so a directory is validated here, with the caller's
// rights, against the live release of the daemon's site.
func (c *cmd) validateSite(ctx context.Context, arg string, isID bool) (*api.ValidateResult, error) {
	svc, t := c.svc, c.target()
	if !isID && !c.direct {
		st, err := c.svc.Status(ctx, t)
		if err != nil {
			return nil, err
		}
		svc, t = c.local(nil), api.Target{Root: st.Root}
	}
	return svc.Validate(ctx, api.ValidateRequest{Target: t, Path: arg})
}

// validateAlone checks dir with the default policy and no live release,
// every finding counting (no first-release baseline): what a CI job runs.
// See directService.Validate for GOGC.
func validateAlone(ctx context.Context, dir string) (*api.ValidateResult, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("validate: %s is not a directory: %w", dir, errors.Join(err, api.ErrNotFound))
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(50))
	}
	o := validate.DefaultOptions()
	o.BaselineFirst = false
	rep, err := validate.Check(ctx, os.DirFS(dir), nil, o)
	if err != nil {
		return nil, err
	}
	return &api.ValidateResult{Schema: api.Schema, Rejected: rep.Rejected(), Report: rep}, nil
}

// readBaseline reads the --baseline report; a bad one is a usage error
// naming the file.
func readBaseline(name string) (*validate.Report, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, api.Usagef("--baseline: %v", err)
	}
	defer f.Close()
	rep, err := validate.ReadBaseline(f)
	if err != nil {
		return nil, api.Usagef("--baseline %s: %v", name, err)
	}
	return rep, nil
}

// writeValidation prints res on stdout in format; dir names the checked
// directory in github annotations ("" for a release).
func writeValidation(c *cmd, format, dir string, res *api.ValidateResult) error {
	switch format {
	case formatJSON:
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case formatGitHub:
		return res.Report.WriteGitHub(c.env.Stdout, dir)
	}
	return res.Report.WriteTextWith(c.env.Stdout, validate.TextOptions{All: c.o.all, MoreHint: "--all lists them"})
}

// printRejectedJSON prints, with --json, the report of a rejected deploy
// or stage on stdout as the document validate prints; the error object
// goes to stderr as usual.
func (c *cmd) printRejectedJSON(err error) {
	var e *api.Error
	if !c.g.json || !errors.As(err, &e) || e.Report == nil {
		return
	}
	enc := json.NewEncoder(c.env.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(&api.ValidateResult{Schema: api.Schema, Rejected: true, Report: e.Report})
}

// printDryRun prints the outcome of a deploy that made no release: for a
// dry run the changes against the live release and the report, for an
// artifact equal to the live release "already live: vN".
func printDryRun(w io.Writer, r *api.DeployResult) {
	if !r.DryRun {
		fmt.Fprintf(w, "already live: %s (nothing deployed; --force makes a new release anyway)\n", r.AlreadyLive)
		printWarnings(w, r.Warnings)
		return
	}
	counts := printChanges(w, r.Changes)
	var before, after int64
	for _, ch := range r.Changes {
		before += ch.Before
		after += ch.After
	}
	if r.Report != nil {
		r.Report.WriteText(w)
	}
	printWarnings(w, r.Warnings)
	sign := "+"
	if after < before {
		sign = "-"
	}
	fmt.Fprintf(w, "dry run: %d added, %d removed, %d changed (%s%s)", counts["added"], counts["removed"], counts["changed"], sign, humanBytes(abs64(after-before)))
	if r.AlreadyLive != "" {
		fmt.Fprintf(w, "; the content equals the live release %s", r.AlreadyLive)
	}
	fmt.Fprintln(w, "; nothing was changed")
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

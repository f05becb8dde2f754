package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

var verbs = []verb{
	{
		name: "deploy", args: "SOURCE", short: "stage, hash, validate and activate a new release; prints its id",
		long: `SOURCE is a directory, a .tar, .tar.gz/.tgz, .tar.zst or .zip file,
s3://bucket/key (one archive object) or s3://bucket/prefix/ (a tree of objects),
or - for an archive on standard input (its format known by its first bytes).
When release-agent runs, releasectl reads a local SOURCE itself, with your
rights, and streams it to the daemon (a directory as a tar made on the fly);
the daemon never reads a local path for you.
The new id goes to stdout, details to stderr. Nothing changes unless every
stage succeeds; the release that was live stays live on any failure.
--commit, --message and --meta are recorded with the release (list, status,
history); what they leave out is taken from the S3 object's or marker's
metadata (x-amz-meta-git-sha, x-amz-meta-message, other x-amz-meta-*).

An artifact whose content equals the live release's prints "already live:
vN" and makes no release (--force makes one). --dry-run prints the changes
against the live release and the report, and removes everything: no id is
used, nothing is recorded.`,
		flags: deployFlags, minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.deploy(ctx, a[0], true) },
	},
	{
		name: "stage", args: "SOURCE", short: "like deploy, but do not activate",
		flags: deployFlags, minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.deploy(ctx, a[0], false) },
	},
	{
		name: "activate", args: "vN", short: "make a staged or older release current",
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.Activate(ctx, api.ActivateRequest{Target: c.target(), ID: c.resolveOrigin(ctx, a[0]), Wait: c.g.wait})
			if err == nil && !c.g.json {
				c.printSwitch(r)
			}
			return r, err
		},
	},
	{
		name: "rollback", args: "[--to vN]", short: "go back to the release that was live before the current one",
		long: `Without --to, rollback goes to the most recent release that was live before
the current one and is not marked bad; the release it leaves is marked bad,
so rolling back again goes further back. --to vN goes to vN.`,
		flags: func(fs *pflag.FlagSet, o *verbOpts) {
			fs.StringVar(&o.to, "to", "", "roll back to release `vN`")
			fs.StringVar(&o.reason, "reason", "", "why, recorded in the journal")
		},
		maxArgs: 0,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.Rollback(ctx, api.ActivateRequest{Target: c.target(), ID: c.resolveOrigin(ctx, c.o.to), Wait: c.g.wait, Reason: c.o.reason})
			if err == nil && !c.g.json {
				c.printSwitch(r)
			}
			return r, err
		},
	},
	{
		name: "canary", args: "vN|SOURCE [--percent P]", short: "serve a release to a share of clients (a canary) beside the current one",
		long: `canary vN starts the staged release vN as a canary: the clients of P percent
of the 100 cohorts (default: [site.watch] canary_percent, 10) are served vN,
the others the current release; no web server reload is needed (see the
shipped nginx-site-watch.conf). canary SOURCE stages SOURCE first, as stage
does. With --percent alone, a running canary's share changes. Hashed assets
of both releases are served from both, so a client never loads a mixed
page. With the daemon and [site.watch], the canary is compared with the
stable cohort over the same minutes and aborted when it does worse (with
canary = "auto" also promoted when it passes). promote makes it current for
everyone; abort (or rollback) ends it.`,
		flags: func(fs *pflag.FlagSet, o *verbOpts) {
			fs.IntVar(&o.percent, "percent", 0, "the canary's share of clients, 1 to 99 (default: the site's canary_percent, 10)")
			fs.StringVar(&o.reason, "reason", "", "why, recorded in the journal")
		},
		maxArgs: 1,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			req := api.CanaryRequest{Target: c.target(), Action: api.CanaryStart, Percent: c.o.percent, Reason: c.o.reason, Wait: c.g.wait}
			switch {
			case len(a) == 0 && c.o.percent == 0:
				return nil, api.Usagef("canary needs a release (vN), a SOURCE, or --percent to resize the running canary")
			case len(a) == 0:
				req.Action = api.CanaryResize
			case releases.CheckID(a[0]) == nil:
				req.ID = a[0]
			default:
				r, err := c.sendDeploy(ctx, a[0], false)
				if err != nil {
					return nil, err
				}
				if r.Release.ID == "" {
					return nil, fmt.Errorf("%s made no new release (it equals the live one %s): nothing to run as a canary", a[0], r.AlreadyLive)
				}
				req.ID = r.Release.ID
			}
			r, err := c.svc.Canary(ctx, req)
			if err == nil && !c.g.json {
				c.printCanary(r)
			}
			return r, err
		},
	},
	{
		name: "promote", short: "make the running canary current for every client",
		maxArgs: 0,
		flags: func(fs *pflag.FlagSet, o *verbOpts) {
			fs.StringVar(&o.reason, "reason", "", "why, recorded in the journal")
		},
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.Canary(ctx, api.CanaryRequest{Target: c.target(), Action: api.CanaryPromote, Reason: c.o.reason, Wait: c.g.wait})
			if err == nil && !c.g.json {
				c.printCanary(r)
			}
			return r, err
		},
	},
	{
		name: "abort", short: "end the running canary: every client back on the current release",
		long: `abort sends the canary's clients back to the current release and marks the
canary's release bad. rollback without --to does the same while a canary runs.`,
		maxArgs: 0,
		flags: func(fs *pflag.FlagSet, o *verbOpts) {
			fs.StringVar(&o.reason, "reason", "", "why, recorded in the journal")
		},
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.Canary(ctx, api.CanaryRequest{Target: c.target(), Action: api.CanaryAbort, Reason: c.o.reason, Wait: c.g.wait})
			if err == nil && !c.g.json {
				c.printCanary(r)
			}
			return r, err
		},
	},
	{
		name: "list", short: "list releases (current, previous, pinned, failed...)",
		long: `Without --all, list shows the newest 20 releases and folds the records of
releases that have no tree any more (pruned, failed, rejected) and are older
than every release on disk into one summary line. --all lists every record.
With --json the document always holds every record.`,
		flags: func(fs *pflag.FlagSet, o *verbOpts) {
			fs.BoolVar(&o.all, "all", false, "list every record, including old pruned, failed and rejected ones")
		},
		maxArgs: 0,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.List(ctx, c.target())
			if err == nil && !c.g.json {
				printList(c.env.Stdout, r, c.o.all)
			}
			return r, err
		},
	},
	{
		name: "status", short: "show the live release and any writer holding the lock", maxArgs: 0,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.Status(ctx, c.target())
			if err == nil && !c.g.json {
				printStatus(c.env.Stdout, r)
			}
			return r, err
		},
	},
	{
		name: "history", short: "show the journal: who changed what, when, from what source",
		flags: func(fs *pflag.FlagSet, o *verbOpts) {
			fs.IntVarP(&o.limit, "limit", "n", 20, "show the last `N` events (0: all)")
		},
		maxArgs: 0,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.History(ctx, c.target(), c.o.limit)
			if err == nil && !c.g.json {
				printHistory(c.env.Stdout, r)
			}
			return r, err
		},
	},
	{
		name: "diff", args: "vA vB", short: "files added, removed and changed from vA to vB", minArgs: 2, maxArgs: 2,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.Diff(ctx, c.target(), a[0], a[1])
			if err == nil && !c.g.json {
				printDiff(c.env.Stdout, r)
			}
			return r, err
		},
	},
	{
		name: "manifest", args: "vN", short: "files of vN and its content-hashed assets (logical -> hashed, sha256, SRI)", minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.Manifest(ctx, c.target(), a[0])
			if err == nil && !c.g.json {
				printManifest(c.env.Stdout, r)
			}
			return r, err
		},
	},
	validateVerb,
	{
		name: "prune", short: "remove old releases, keeping N (never current, previous, pinned or a canary)",
		flags: func(fs *pflag.FlagSet, o *verbOpts) {
			fs.IntVar(&o.keep, "keep", 0, "keep the `N` newest releases (default: the site's keep, 5; with --older-than: none by count)")
			fs.DurationVar(&o.olderThan, "older-than", 0, "remove only releases that left current (or were staged, if never live) more than `DURATION` ago, e.g. 15m (default: the site's keep_for)")
			fs.BoolVar(&o.dryRun, "dry-run", false, "only print what would be removed")
		},
		maxArgs: 0,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			r, err := c.svc.Prune(ctx, api.PruneRequest{Target: c.target(), Keep: c.o.keep, OlderThan: c.o.olderThan, DryRun: c.o.dryRun, Wait: c.g.wait})
			if err == nil && !c.g.json {
				c.printCleaned(r.Cleaned)
				verb := "pruned"
				if c.o.dryRun {
					verb = "would prune"
				}
				if len(r.Pruned) == 0 {
					fmt.Fprintf(c.env.Stdout, "nothing to prune; kept %s\n", strings.Join(r.Kept, " "))
				} else {
					fmt.Fprintf(c.env.Stdout, "%s %s; kept %s\n", verb, strings.Join(r.Pruned, " "), strings.Join(r.Kept, " "))
				}
			}
			return r, err
		},
	},
	{
		name: "fsck", short: "check the whole store; --repair fixes what can be fixed",
		long: `fsck checks current (a relative symlink to a real releases/vN), every
record (it parses), every staged release's tree against its manifest
(missing, extra and resized files; contents with --full), the journal (a
torn last line is fine), leftovers of interrupted runs (staging trees,
temporary files) and next-id. It prints one line per problem and exits 1
if any is left, 0 when the store is clean. --repair (under the store's
lock) rebuilds next-id and damaged records from the manifests, trees and
journal, and removes leftovers, saying what it did. fsck always works on
the store itself, whether or not release-agent runs.`,
		flags: func(fs *pflag.FlagSet, o *verbOpts) {
			fs.BoolVar(&o.repair, "repair", false, "repair what can be repaired")
			fs.BoolVar(&o.full, "full", false, "also compare every file's sha256 with the manifest")
		},
		maxArgs: 0, noConnect: true,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.fsck(ctx) },
	},
	{
		name: "pin", args: "vN", short: "keep vN from being pruned", minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.pin(ctx, a[0], true) },
	},
	{
		name: "unpin", args: "vN", short: "allow vN to be pruned again", minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.pin(ctx, a[0], false) },
	},
	eventsVerb, // events.go
	adoptVerb,  // adopt.go
	fleetVerb,  // fleet.go
}

func deployFlags(fs *pflag.FlagSet, o *verbOpts) {
	fs.StringVar(&o.sha256, "sha256", "", "expected sha256 `HEX` of the artifact (a FILE.sha256 beside a local file is also checked)")
	fs.BoolVar(&o.noHash, "no-hash", false, "do not rename assets to content-hashed names")
	fs.BoolVar(&o.noVerify, "no-validate", false, "skip validation (links, assets, size budgets)")
	fs.IntVar(&o.keep, "keep", 0, "after activating, keep the `N` newest releases (default: the site's keep, 5)")
	fs.DurationVar(&o.timeout, "timeout", time.Hour, "give up after `DURATION` (a stalled download, a huge artifact); nothing changes")
	fs.BoolVar(&o.dryRun, "dry-run", false, "stage, hash and validate, print the changes against the live release and the report, then remove it all (no id is used)")
	fs.BoolVar(&o.force, "force", false, "make a release even if the artifact's content equals the live release's")
	provenanceFlags(fs, o)
}

// sendDeploy deploys (or with activate false, stages) src with the deploy
// flags that are set, without printing the result; a rejection's report
// is printed with --json.
func (c *cmd) sendDeploy(ctx context.Context, src string, activate bool) (*api.DeployResult, error) {
	prov, err := c.o.provenance()
	if err != nil {
		return nil, err
	}
	req := api.DeployRequest{Target: c.target(), Source: src, SHA256: c.o.sha256, Provenance: prov,
		Activate: activate, NoHash: c.o.noHash, NoVerify: c.o.noVerify, Keep: c.o.keep, Wait: c.g.wait, Timeout: c.o.timeout,
		DryRun: c.o.dryRun, Force: c.o.force}
	if src == "-" {
		// An archive on standard input, with or without a daemon. (A local
		// path is streamed by the client when a daemon runs, and read here
		// otherwise: by this process, with the caller's rights, either way.)
		req.Stream, req.StreamFrom = c.env.Stdin, "stdin"
	}
	r, err := c.svc.Deploy(ctx, req)
	if err != nil {
		c.printRejectedJSON(err)
		return nil, err
	}
	return r, nil
}

func (c *cmd) deploy(ctx context.Context, src string, activate bool) (any, error) {
	r, err := c.sendDeploy(ctx, src, activate)
	if err != nil {
		return nil, err
	}
	if c.g.json {
		return r, nil
	}
	c.printCleaned(r.Cleaned)
	if r.DryRun || r.AlreadyLive != "" {
		printDryRun(c.env.Stdout, r)
		return r, nil
	}
	rel := r.Release
	var b strings.Builder
	if r.Activated {
		fmt.Fprintf(&b, "%s is live", rel.ID)
		if r.Previous != "" {
			fmt.Fprintf(&b, " (was %s)", r.Previous)
		}
	} else {
		if r.Canary != nil {
			fmt.Fprintf(&b, "%s is a canary for %d%% of clients (%s serves the others; the watch promotes or aborts it)", rel.ID, r.Canary.Percent, r.Canary.Stable)
		} else {
			fmt.Fprintf(&b, "%s is staged (not live; `releasectl activate %s` to make it live)", rel.ID, rel.ID)
		}
	}
	fmt.Fprintf(&b, ": %d files, %s", rel.Files, humanBytes(rel.Bytes))
	if rel.LinkedFiles > 0 {
		fmt.Fprintf(&b, ", %d unchanged files hardlinked", rel.LinkedFiles)
	}
	var total float64
	for _, t := range r.Timings {
		total += t.Seconds
	}
	fmt.Fprintf(&b, ", %.2fs", total)
	if len(r.Pruned) > 0 {
		fmt.Fprintf(&b, "; pruned %s", strings.Join(r.Pruned, " "))
	}
	fmt.Fprintln(c.env.Stderr, b.String())
	for _, w := range r.Warnings {
		fmt.Fprintln(c.env.Stderr, "warning:", w)
	}
	fmt.Fprintln(c.env.Stdout, rel.ID)
	return r, nil
}

func (c *cmd) pin(ctx context.Context, id string, pin bool) (any, error) {
	r, err := c.svc.Pin(ctx, api.PinRequest{Target: c.target(), ID: id, Pin: pin, Wait: c.g.wait})
	if err == nil && !c.g.json {
		state := "pinned"
		if !pin {
			state = "unpinned"
		}
		if r.Changed {
			fmt.Fprintf(c.env.Stdout, "%s %s\n", state, id)
		} else {
			fmt.Fprintf(c.env.Stdout, "%s was already %s\n", id, state)
		}
	}
	return r, err
}

func (c *cmd) printCanary(r *api.CanaryResult) {
	printWarnings(c.env.Stderr, r.Warnings)
	d := time.Duration(r.Seconds * float64(time.Second)).Round(10 * time.Microsecond)
	switch r.Action {
	case api.CanaryStart, api.CanaryResize:
		fmt.Fprintf(c.env.Stdout, "canary %s serves %d%% of clients; %s the others (in %s)\n", r.Release, r.Percent, r.Stable, d)
	case api.CanaryPromote:
		fmt.Fprintf(c.env.Stdout, "%s is live for every client (was %s), promoted in %s\n", r.Release, r.From, d)
	case api.CanaryAbort:
		fmt.Fprintf(c.env.Stdout, "canary %s aborted; every client is on %s again (in %s)\n", r.Release, r.Stable, d)
	}
}

func (c *cmd) printSwitch(r *api.ActivateResult) {
	PrintSwitch(c.env.Stdout, c.env.Stderr, r)
}

func (c *cmd) printCleaned(cl []string) { PrintCleaned(c.env.Stderr, cl) }

func newTab(w interface{ Write([]byte) (int, error) }) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// fsck runs on the store itself (package service), not through the
// daemon: with --root the store at DIR, with --site the sites of --config.
func (c *cmd) fsck(ctx context.Context) (any, error) {
	if c.g.root != "" && c.g.site != "" {
		return nil, api.Usagef("give --root or --site, not both")
	}
	sites := map[string]*service.Site{}
	if c.g.root == "" {
		cfg, err := config.Load(c.g.config)
		if err != nil {
			return nil, err
		}
		sites = service.SitesFromConfig(cfg)
	}
	l := &service.Local{Via: "cli", Sites: sites}
	r, err := l.Fsck(ctx, api.FsckRequest{Target: c.target(), Repair: c.o.repair, Full: c.o.full, Wait: c.g.wait})
	if err != nil {
		return nil, err
	}
	if c.g.json {
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
	} else {
		c.printCleaned(r.Cleaned)
		printFsck(c.env.Stdout, r)
	}
	if !r.Clean {
		return nil, &exitError{api.ExitFailed}
	}
	return nil, nil
}

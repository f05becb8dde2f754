package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

// adoptVerb is `releasectl adopt`: it imports a root that Capistrano,
// Deployer or a plain current/ directory served (releases.Adopt). Like
// fsck it works on the store itself, never through the daemon: the
// store's lock keeps it apart from any other writer, and release-agent
// refuses to start with a root that is not adopted yet, so it cannot be
// serving one.
var adoptVerb = verb{
	name: "adopt", short: "import a root run by Capistrano or Deployer, or a plain current/ directory, without a gap in serving",
	long: `adopt turns a root managed by another tool into a release store, while
the web server keeps serving ROOT/current:
  - Capistrano/Deployer: each releases/NAME/ becomes vN in name order
    (moved, not copied; files identical to the previous release's
    hardlinked; read-only like every release; the original name
    kept as its origin, shown by list and history). The live one is cloned
    with hardlinks and current switched to it by one rename of a fresh
    symlink: the same files throughout. Releases up to the live one enter
    the rollback order; newer ones are reachable with rollback --to vN
    (or --to NAME). Symlinks inside releases (Deployer's shared/ links)
    are kept as they are, never followed, and listed.
  - A plain current/ directory becomes v1 and current a symlink to it,
    swapped in one step with renameat2(RENAME_EXCHANGE).
Until a root is adopted, list, status, deploy and the daemon refuse it and
point here. A killed adopt leaves current serving; run adopt again to
finish (it resumes from its plan in state/adopt/). adopt needs --root DIR
(or --site NAME with --config) and works whether or not release-agent runs.`,
	flags: func(fs *pflag.FlagSet, o *verbOpts) {
		fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be imported, change nothing")
	},
	maxArgs: 0, noConnect: true,
	run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.adopt(ctx) },
}

// AdoptResult is the --json document of adopt.
type AdoptResult struct {
	Schema int `json:"schema"`
	*releases.AdoptReport
}

func (c *cmd) adopt(ctx context.Context) (any, error) {
	root, err := c.adoptRoot()
	if err != nil {
		return nil, err
	}
	rep, err := releases.Adopt(ctx, root, releases.AdoptOptions{DryRun: c.o.dryRun, Who: releases.LocalWho("cli"), Wait: c.g.wait})
	if err != nil {
		return nil, err
	}
	if !c.g.json {
		PrintCleaned(c.env.Stderr, rep.Cleaned)
		printAdopt(c.env.Stdout, rep)
	}
	return &AdoptResult{Schema: api.Schema, AdoptReport: rep}, nil
}

// adoptRoot is --root, or the root of --site (or of the one configured
// site) from --config.
func (c *cmd) adoptRoot() (string, error) {
	switch {
	case c.g.root != "" && c.g.site != "":
		return "", api.Usagef("give --root or --site, not both")
	case c.g.root != "":
		return c.g.root, nil
	case c.g.site == "" && c.g.config == config.DefaultPath && !fileExists(c.g.config):
		return "", api.Usagef("adopt works on a release root directly: give --root DIR (the directory holding current and releases/)")
	}
	cfg, err := config.Load(c.g.config)
	if err != nil {
		return "", err
	}
	sites := service.SitesFromConfig(cfg)
	if s, ok := sites[c.g.site]; ok {
		return s.Root, nil
	}
	if c.g.site == "" && len(sites) == 1 {
		for _, s := range sites {
			return s.Root, nil
		}
	}
	return "", api.Usagef("which site? give --root DIR or --site NAME (from %s)", c.g.config)
}

func printAdopt(w io.Writer, r *releases.AdoptReport) {
	if r.Layout == "" {
		fmt.Fprintf(w, "nothing to adopt: %s is a release store already\n", r.Root)
		return
	}
	verb := "adopted"
	if r.DryRun {
		verb = "would adopt"
	}
	fmt.Fprintf(w, "%s %s (%s layout):\n", verb, r.Root, r.Layout)
	tw := newTab(w)
	for _, rel := range r.Releases {
		note := ""
		switch {
		case rel.Live:
			note = "live (hardlinked clone; current -> releases/" + rel.ID + ")"
		case rel.Resumed:
			note = "imported by an interrupted run"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d files\t%s\t%s\n", rel.ID, rel.Origin, rel.Files, humanBytes(rel.Bytes), note)
	}
	tw.Flush()
	if len(r.OutLinks) > 0 {
		fmt.Fprintln(w, "symlinks pointing out of their release (kept as they are, never followed by releasectl):")
		for _, l := range r.OutLinks {
			fmt.Fprintln(w, "  "+l)
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintln(w, "not imported: "+s)
	}
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning: "+s)
	}
	if r.DryRun {
		fmt.Fprintln(w, "nothing was changed (--dry-run)")
		return
	}
	if r.Live != "" {
		fmt.Fprintf(w, "current -> releases/%s; every release can be made live with `releasectl --root %s rollback --to vN`\n", r.Live, r.Root)
	}
}

// resolveOrigin returns id unchanged if it is a release id (vN) or empty;
// otherwise the id of the release adopted under that name
// ("20250102120000" or "capistrano:20250102120000"), if exactly one
// was. Anything else is returned unchanged, for the usual error.
func (c *cmd) resolveOrigin(ctx context.Context, id string) string {
	if _, ok := releases.ParseID(id); ok || id == "" {
		return id
	}
	l, err := c.svc.List(ctx, c.target())
	if err != nil {
		return id
	}
	found := ""
	for _, r := range l.Releases {
		if r.Origin != "" && (r.Origin == id || strings.HasSuffix(r.Origin, ":"+id)) {
			if found != "" {
				return id
			}
			found = r.ID
		}
	}
	if found == "" {
		return id
	}
	return found
}

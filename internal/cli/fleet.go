package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/fleet"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/releases"
)

// fleetOpts are the flags of `releasectl fleet`.
type fleetOpts struct {
	url          string
	label        string
	hosts        []string
	allowMissing bool
	hbTimeout    time.Duration
}

var fleetFlags fleetOpts

// fleetVerb is `releasectl fleet`: the operator's side of a fleet (package
// fleet). It runs in releasectl's own process, never through the daemon:
// it talks to S3 with the caller's AWS credentials.
var fleetVerb = verb{
	name: "fleet", args: "deploy ARTIFACT | status | rollback [--to LABEL] | activate LABEL",
	short: "switch every host of a fleet to one release, coordinated through S3",
	long: `A fleet is an S3 prefix (--fleet s3://ops/fleet/www/) that every member host
follows ([site.fleet] url in release-agent's config). desired.json there says
what to stage and when to activate it; each host reports in hosts/HOST.json.
releasectl fleet writes desired.json (conditional PUTs only: two operators can
never interleave) and waits for the reports; nothing is pushed to hosts.

  deploy ARTIFACT   every member stages ARTIFACT (s3://bucket/key or
                    s3://bucket/prefix/); when all have staged it, every member
                    activates it. If one rejects or fails, desired.json goes back
                    to the live release and no host switches (exit 3 or 1,
                    naming the host and its report).
  status            desired.json and one row per host.
  rollback          every member back to the release desired before (or --to LABEL).
  activate LABEL    every member to LABEL, a release this fleet deployed before.

Members are the hosts that reported within --heartbeat-timeout, or --hosts. A
member that stops reporting fails the command, naming it, unless
--allow-missing. --wait bounds the whole command (default 5m). S3 is reached as the AWS tools do: AWS_ENDPOINT_URL,
AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the shared credentials
file; credentials are never arguments. --fleet defaults to the [site.fleet] url
of --site in --config.`,
	flags: func(fs *pflag.FlagSet, o *verbOpts) {
		f := &fleetFlags
		*f = fleetOpts{}
		fs.StringVar(&f.url, "fleet", "", "the fleet's S3 prefix `URL` (s3://bucket/prefix/)")
		fs.StringVar(&f.label, "label", "", "deploy: the release's `LABEL` (default r<generation>)")
		fs.StringSliceVar(&f.hosts, "hosts", nil, "the members, `HOST,...` (default: every host reporting)")
		fs.BoolVar(&f.allowMissing, "allow-missing", false, "go on without members that do not report")
		fs.DurationVar(&f.hbTimeout, "heartbeat-timeout", fleet.DefaultHeartbeatTimeout, "a member whose report is older than `DURATION` is missing")
		fs.StringVar(&o.sha256, "sha256", "", "deploy: the artifact's sha256 `HEX`, checked by every member")
		fs.StringVar(&o.to, "to", "", "rollback: to release `LABEL`")
		fs.StringVar(&o.commit, "commit", "", "deploy: the commit `SHA` the artifact was built from")
		fs.StringVarP(&o.message, "message", "m", "", "deploy: why, recorded in desired.json and on every host")
	},
	minArgs: 1, maxArgs: 2, noConnect: true,
	run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.fleet(ctx, a) },
}

func (c *cmd) fleet(ctx context.Context, a []string) (any, error) {
	f := fleetFlags
	sub := a[0]
	nargs := map[string]int{"deploy": 1, "status": 0, "rollback": 0, "activate": 1}
	n, ok := nargs[sub]
	if !ok {
		return nil, api.Usagef("releasectl fleet: unknown command %q: use deploy, status, rollback or activate", sub)
	}
	if len(a)-1 != n {
		return nil, api.Usagef("usage: releasectl fleet --fleet URL %s", map[string]string{"deploy": "deploy ARTIFACT", "status": "status", "rollback": "rollback [--to LABEL]", "activate": "activate LABEL"}[sub])
	}
	if f.url == "" && c.g.site != "" {
		cfg, err := config.Load(c.g.config)
		if err != nil {
			return nil, err
		}
		s := cfg.Site(c.g.site)
		if s == nil || s.Fleet == nil {
			return nil, api.Usagef("--fleet: site %q in %s has no [site.fleet]", c.g.site, c.g.config)
		}
		f.url = s.Fleet.URL
	}
	if f.url == "" {
		return nil, api.Usagef("releasectl fleet needs --fleet s3://bucket/prefix/ (or --site NAME of a fleet site)")
	}
	if f.label != "" {
		if err := fleet.CheckLabel(f.label); err != nil {
			return nil, api.Usagef("--label: %v", err)
		}
	}
	if _, _, err := fleet.ParseURL(f.url); err != nil {
		return nil, api.Usagef("--fleet: %v", err)
	}
	cl, err := s3.NewClient(s3.ConfigFromEnv())
	if err != nil {
		return nil, err
	}
	b, err := fleet.New(cl.Minio(), f.url)
	if err != nil {
		return nil, err
	}
	who := releases.LocalWho("cli")
	host, _ := os.Hostname()
	// The global --wait bounds the whole command here (default 5m).
	o := fleet.Options{Who: who.User + "@" + host, Wait: c.g.wait, Hosts: f.hosts, AllowMissing: f.allowMissing, HeartbeatTimeout: f.hbTimeout}
	if !c.g.json {
		o.Progress = func(l string) { fmt.Fprintln(c.env.Stderr, "releasectl:", l) }
	}
	var res *fleet.Result
	switch sub {
	case "status":
		res, err = fleet.Status(ctx, b, o)
	case "deploy":
		if !strings.HasPrefix(a[1], "s3://") {
			return nil, api.Usagef("releasectl fleet deploy: ARTIFACT must be s3://bucket/key or s3://bucket/prefix/ (every host fetches it), not %q", a[1])
		}
		prov, perr := c.o.provenance()
		if perr != nil {
			return nil, perr
		}
		dep := fleet.Deploy{Artifact: fleet.Artifact{URL: a[1], SHA256: strings.TrimSpace(c.o.sha256)}, Label: f.label}
		if prov != nil {
			dep.Commit, dep.Message = prov.Commit, prov.Message
		}
		res, err = fleet.DeployRelease(ctx, b, dep, o)
	case "rollback":
		res, err = fleet.Rollback(ctx, b, c.o.to, o)
	case "activate":
		res, err = fleet.Activate(ctx, b, a[1], o)
	}
	if res != nil && !c.g.json {
		printFleet(c, res)
	}
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, fleet.ErrRejected):
		return nil, fmt.Errorf("%w: %w", api.ErrRejected, err)
	case errors.Is(err, fleet.ErrUnknownRelease):
		return nil, fmt.Errorf("%w: %w", api.ErrUsage, err)
	}
	return nil, err
}

func printFleet(c *cmd, r *fleet.Result) {
	w := newTab(c.env.Stdout)
	if d := r.Desired; d != nil {
		fmt.Fprintf(w, "fleet %s generation %d: %s %s (%s) by %s at %s\n", r.Fleet, d.Generation, d.Phase, d.Release, d.Artifact.URL, d.Who, d.When.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "fleet %s: no desired.json yet\n", r.Fleet)
	}
	fmt.Fprintln(w, "HOST\tSTATE\tSTAGED\tLIVE\tLAG\tHEARTBEAT\tERROR")
	for _, h := range r.Hosts {
		state := string(h.State)
		if h.Missing {
			state += " (missing)"
		}
		hb := "never"
		if h.Heartbeat != "" {
			hb = fmt.Sprintf("%.0fs ago", h.AgeSeconds)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", h.Host, state, relName(h.Staged, h.StagedID), relName(h.Live, h.LiveID), h.Lag, hb, h.Error)
	}
	w.Flush()
}

func relName(label, id string) string {
	switch {
	case label == "" && id == "":
		return "-"
	case label == "":
		return id
	}
	return label + "=" + id
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/ingest/fetchexec"
	"github.com/example/release-agent/releases"
)

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
		f := &o.fleet
		fs.StringVar(&f.url, "fleet", "", "the fleet's S3 prefix `URL` (s3://bucket/prefix/)")
		fs.StringVar(&f.label, "label", "", "deploy: the release's `LABEL` (default r<generation>)")
		fs.StringSliceVar(&f.hosts, "hosts", nil, "the members, `HOST,...` (default: every host reporting)")
		fs.BoolVar(&f.allowMissing, "allow-missing", false, "go on without members that do not report")
		fs.DurationVar(&f.hbTimeout, "heartbeat-timeout", 30*time.Second, "a member whose report is older than `DURATION` is missing")
		fs.StringVar(&o.sha256, "sha256", "", "deploy: the artifact's sha256 `HEX`, checked by every member")
		fs.StringVar(&o.to, "to", "", "rollback: to release `LABEL`")
		fs.StringVar(&o.commit, "commit", "", "deploy: the commit `SHA` the artifact was built from")
		fs.StringVarP(&o.message, "message", "m", "", "deploy: why, recorded in desired.json and on every host")
	},
	minArgs: 1, maxArgs: 2, noConnect: true,
	run: func(ctx context.Context, c *cmd, a []string) (any, error) { return c.fleet(ctx, a) },
}

// FleetHelper is the program that does the S3 work of the fleet verb
// (release-agent fleet-exec, package fleetcmd), found beside releasectl
// or on PATH.
var FleetHelper = "release-agent"

func (c *cmd) fleet(ctx context.Context, a []string) (any, error) {
	f := c.o.fleet
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
	who := releases.LocalWho("cli")
	host, _ := os.Hostname()
	req := api.FleetRequest{Schema: api.Schema, Fleet: f.url, Command: sub, Label: f.label, SHA256: strings.TrimSpace(c.o.sha256),
		To: c.o.to, Hosts: f.hosts, AllowMissing: f.allowMissing, HeartbeatTimeout: f.hbTimeout, Wait: c.g.wait,
		Who: who.User + "@" + host, JSON: c.g.json}
	if n == 1 {
		req.Arg = a[1]
	}
	if sub == "deploy" {
		prov, err := c.o.provenance()
		if err != nil {
			return nil, err
		}
		if prov != nil {
			req.Commit, req.Message = prov.Commit, prov.Message
		}
	}
	bin, err := fetchexec.LookHelper(FleetHelper)
	if err != nil {
		return nil, fmt.Errorf("releasectl fleet: %w", err)
	}
	body, err := json.Marshal(&req)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "fleet-exec")
	cmd.Stdin = bytes.NewReader(body)
	cmd.Stdout, cmd.Stderr = c.env.Stdout, c.env.Stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
		return nil, &exitError{ee.ExitCode()}
	}
	if err != nil {
		return nil, fmt.Errorf("releasectl fleet: running %s fleet-exec: %w", bin, err)
	}
	return nil, nil // the helper printed the result
}

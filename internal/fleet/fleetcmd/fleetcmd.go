// Package fleetcmd is the S3 side of `releasectl fleet`: releasectl parses
// the command line and runs `release-agent fleet-exec` with an
// api.FleetRequest on its standard input, because releasectl does not link
// the S3 client (its package initialisation would slow every rollback; see
// cmd/releasectl's deps test). Serve does the work with package fleet and
// prints what releasectl would: progress lines on stderr, the result on
// stdout (a table, or the fleet.Result document with JSON), an error as
// releasectl prints errors (as cli.Fail; release-agent does not link the
// CLI), and returns releasectl's exit
// status (0, 1, 2 usage, 3 a member rejected).
//
// This is not a second command line: fleet-exec reads one JSON request
// and is not for people.
package fleetcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/fleet"
	"github.com/example/release-agent/internal/ingest/s3"
)

// Verb is the first argument of the helper's command line.
const Verb = "fleet-exec"

// Serve reads an api.FleetRequest from stdin, runs it, and returns the
// exit status.
func Serve(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	var req api.FleetRequest
	if err := json.NewDecoder(io.LimitReader(stdin, 1<<20)).Decode(&req); err != nil {
		return fail(stderr, fmt.Errorf("%w: release-agent %s: reading the request: %v", api.ErrUsage, Verb, err), false)
	}
	res, err := run(ctx, &req, stderr)
	if res != nil && !req.JSON {
		print(stdout, res)
	}
	if err != nil {
		return fail(stderr, err, req.JSON)
	}
	if req.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return api.ExitFailed
		}
	}
	return api.ExitOK
}

func run(ctx context.Context, req *api.FleetRequest, stderr io.Writer) (*fleet.Result, error) {
	if req.Schema != api.Schema {
		return nil, api.Usagef("release-agent %s: request schema %d, this program knows %d (install releasectl and release-agent together)", Verb, req.Schema, api.Schema)
	}
	if _, _, err := fleet.ParseURL(req.Fleet); err != nil {
		return nil, api.Usagef("--fleet: %v", err)
	}
	if req.Label != "" {
		if err := fleet.CheckLabel(req.Label); err != nil {
			return nil, api.Usagef("--label: %v", err)
		}
	}
	cl, err := s3.NewClient(s3.ConfigFromEnv())
	if err != nil {
		return nil, err
	}
	b, err := fleet.New(cl.Minio(), req.Fleet)
	if err != nil {
		return nil, err
	}
	o := fleet.Options{Who: req.Who, Wait: req.Wait, Hosts: req.Hosts, AllowMissing: req.AllowMissing, HeartbeatTimeout: req.HeartbeatTimeout}
	if !req.JSON {
		o.Progress = func(l string) { fmt.Fprintln(stderr, "releasectl:", l) }
	}
	var res *fleet.Result
	switch req.Command {
	case "status":
		res, err = fleet.Status(ctx, b, o)
	case "deploy":
		if !strings.HasPrefix(req.Arg, "s3://") {
			return nil, api.Usagef("releasectl fleet deploy: ARTIFACT must be s3://bucket/key or s3://bucket/prefix/ (every host fetches it), not %q", req.Arg)
		}
		res, err = fleet.DeployRelease(ctx, b, fleet.Deploy{Artifact: fleet.Artifact{URL: req.Arg, SHA256: req.SHA256},
			Label: req.Label, Commit: req.Commit, Message: req.Message}, o)
	case "rollback":
		res, err = fleet.Rollback(ctx, b, req.To, o)
	case "activate":
		res, err = fleet.Activate(ctx, b, req.Arg, o)
	default:
		return nil, api.Usagef("releasectl fleet: unknown command %q: use deploy, status, rollback or activate", req.Command)
	}
	switch {
	case err == nil:
	case errors.Is(err, fleet.ErrRejected):
		err = fmt.Errorf("%w: %w", api.ErrRejected, err)
	case errors.Is(err, fleet.ErrUnknownRelease), errors.Is(err, fleet.ErrInvalid):
		err = fmt.Errorf("%w: %w", api.ErrUsage, err)
	}
	return res, err
}

// fail prints err as releasectl does and returns its exit status.
func fail(w io.Writer, err error, asJSON bool) int {
	e := api.ErrorOf(err)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(e)
		return e.Exit
	}
	fmt.Fprintf(w, "releasectl: %s\n", e.Message)
	if e.Exit == api.ExitUsage {
		fmt.Fprintln(w, "run releasectl fleet --help for usage")
	}
	return e.Exit
}

func print(out io.Writer, r *fleet.Result) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
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

package config

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"runtime/debug"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/cli/full"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/validate"
)

// Every program that links this package (release-agent, through the
// daemon) runs releasectl's deploy, stage and validate verbs, and --site
// without a running daemon, in-process: `release-agent ctl`. releasectl
// itself does not link it and hands those verbs over (see package
// cli/full).
func init() {
	full.Register(full.Backend{Daemon: daemon, Open: openLocal, PrintReport: printReport})
}

// daemon returns the client of the daemon on socket if it answers.
func daemon(ctx context.Context, socket string) (api.Service, error) {
	d := &client.Client{Socket: socket}
	if _, err := d.Ping(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func openLocal(config string, progress func(full.Progress)) (api.Service, error) {
	l := &service.Local{Via: "cli", Sites: map[string]*service.Site{}, Sources: ingest.Openers{"s3": s3.OpenFromEnv}}
	if progress != nil {
		l.Progress = func(p deploy.Progress) { progress(full.Progress{Stage: p.Stage, Files: p.Files, Bytes: p.Bytes}) }
	}
	if config != "" {
		sites, err := LoadSites(config)
		if err != nil {
			return nil, err
		}
		l.Sites = sites
	}
	return ctlLocal{l}, nil
}

// ctlLocal is the service of `release-agent ctl`: the stores, worked on in
// this process.
type ctlLocal struct{ *service.Local }

// Validate runs with the garbage collector at GOGC=50 unless GOGC is set:
// the peak memory of a validation is part of its contract (at most a tenth
// of htmltest's on the same tree), and release-agent's larger binary
// starts 8 MB above releasectl's. On python3.11-doc, three runs each: peak
// RSS 33-38 MB instead of 40-44 MB, for 5-10% more time.
func (l ctlLocal) Validate(ctx context.Context, req api.ValidateRequest) (*api.ValidateResult, error) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(50))
	}
	return l.Local.Validate(ctx, req)
}

// printReport prints a validation report that crossed the control socket
// as plain JSON.
func printReport(w io.Writer, rep any) bool {
	b, err := json.Marshal(rep)
	if err != nil {
		return false
	}
	var r validate.Report
	if json.Unmarshal(b, &r) != nil || r.Schema == 0 {
		return false
	}
	r.WriteText(w)
	return true
}

package config

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/cli/full"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/pipeline"
	"github.com/example/release-agent/service"
	"github.com/example/release-agent/source"
	"github.com/example/release-agent/validate"
)

// Every program that links this package (release-agent, through the
// daemon) runs releasectl's deploy, stage and validate verbs, and --site
// without a running daemon, in-process: `release-agent ctl`. releasectl
// itself does not link it and hands those verbs over (see package
// cli/full).
func init() {
	full.Register(full.Backend{Daemon: daemon, Open: openLocal, PrintReport: printReport, NeedsHelper: needsHelper})
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
	l := &service.Local{Via: "cli", Sites: map[string]*service.Site{}}
	if progress != nil {
		l.Progress = func(p pipeline.Progress) { progress(full.Progress{Stage: p.Stage, Files: p.Files, Bytes: p.Bytes}) }
	}
	if config != "" {
		sites, err := LoadSites(config)
		if err != nil {
			return nil, err
		}
		l.Sites = sites
	}
	return l, nil
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

// needsHelper: s3:// sources need source/s3, which only release-agent
// links (it registers the "s3" scheme).
func needsHelper(src string) bool {
	return strings.HasPrefix(src, "s3://") && !source.Registered("s3")
}

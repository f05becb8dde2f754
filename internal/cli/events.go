package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/releases"
)

// eventsVerb is `releasectl events`: the journal as a stream.
var eventsVerb = verb{
	name: "events", args: "[--follow]", short: "print the journal's events, and with --follow each new one as it happens",
	long: `events prints the last N events of the journal (deploys, activations,
rollbacks, rejections, failures, prunes, pins), oldest first, one line each;
with --follow it keeps printing each new event until interrupted. With --json
each event is one JSON object per line (NDJSON) with a "schema" version and
the site. When release-agent runs, the events come from it over the control
socket; when it does not, releasectl reads the journal file itself (and
--follow polls it). If release-agent stops while --follow streams from it,
releasectl says so and exits 1.`,
	flags: func(fs *pflag.FlagSet, o *verbOpts) {
		fs.BoolVarP(&o.follow, "follow", "f", false, "keep printing new events until interrupted")
		fs.IntVarP(&o.limit, "limit", "n", 20, "start with the last `N` events (0: all)")
	},
	maxArgs: 0,
	run:     func(ctx context.Context, c *cmd, _ []string) (any, error) { return nil, c.events(ctx) },
}

// events streams the journal to stdout: from the daemon when c talks to
// it, else from the store's journal file. An interrupted --follow (ctx
// cancelled by SIGINT/SIGTERM) is a normal end.
func (c *cmd) events(ctx context.Context) error {
	req := api.EventsRequest{Target: c.target(), Limit: c.o.limit, Follow: c.o.follow}
	enc := json.NewEncoder(c.env.Stdout)
	emit := func(ev api.EventLine) error {
		if c.g.json {
			return enc.Encode(ev)
		}
		_, err := fmt.Fprintln(c.env.Stdout, eventText(ev))
		return err
	}
	var err error
	if cl, ok := c.svc.(*client.Client); ok {
		err = cl.Events(ctx, req, emit)
		if err == nil && req.Follow && ctx.Err() == nil {
			// Not interrupted, yet the stream ended: the daemon went away.
			err = ErrStreamEnded
		}
	} else {
		err = c.directEvents(ctx, req, emit)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// ErrStreamEnded is the error of `events --follow` when release-agent
// ends the stream (it stopped or restarted): exit status 1, so that a
// script following the events notices.
var ErrStreamEnded = errors.New("release-agent ended the event stream (it stopped or restarted); run releasectl events --follow again to go on")

// directEvents reads the journal of the store c's service works on.
func (c *cmd) directEvents(ctx context.Context, req api.EventsRequest, emit func(api.EventLine) error) error {
	st, err := c.svc.Status(ctx, req.Target)
	if err != nil {
		return err
	}
	store, err := releases.Open(st.Root)
	if err != nil {
		return err
	}
	site := req.Site
	return store.FollowJournal(ctx, req.Limit, req.Follow, 0, func(ev releases.Event) error {
		return emit(api.EventLine{Schema: api.Schema, Site: site, Event: ev})
	})
}

// eventText is the line of `releasectl events` for ev:
//
//	2026-12-04T15:04:05Z www activated v42 from v41 by alice via control
func eventText(ev api.EventLine) string {
	var b strings.Builder
	b.WriteString(ev.Time.UTC().Format(time.RFC3339))
	if ev.Site != "" {
		b.WriteString(" " + ev.Site)
	}
	b.WriteString(" " + ev.Event.Event)
	if ev.Release != "" {
		b.WriteString(" " + ev.Release)
	}
	if ev.From != "" {
		b.WriteString(" from " + ev.From)
	}
	who := ev.Who.User
	if who == "" {
		who = fmt.Sprintf("uid %d", ev.Who.UID)
	}
	if ev.Who.SudoUser != "" {
		who += " (sudo " + ev.Who.SudoUser + ")"
	}
	if f := strings.Fields(ev.Who.SSHClient); len(f) > 0 {
		who += " ssh " + f[0]
	}
	b.WriteString(" by " + who)
	if ev.Who.Via != "" {
		b.WriteString(" via " + ev.Who.Via)
	}
	if ev.Source != "" {
		b.WriteString(" source " + ev.Source)
	}
	if ev.Detail != "" {
		b.WriteString(": " + oneLine(ev.Detail))
	}
	if ev.Error != "" {
		b.WriteString(" error: " + oneLine(ev.Error))
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

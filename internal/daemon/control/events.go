package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
)

// EventStreamer is implemented by a Service that can stream a store's
// journal (the daemon's). Events checks req and returns either an error
// (answered with its status, as any other request) or the stream: a
// function that calls emit for each event until ctx is done, the stream
// ends (no Follow) or emit fails. Without it GET /v0/events answers 404.
type EventStreamer interface {
	Events(ctx context.Context, req api.EventsRequest) (stream func(ctx context.Context, emit func(api.EventLine) error) error, err error)
}

// serveEvents answers GET /v0/events?site=&root=&limit=N&follow=1: the
// journal as NDJSON (client.EventsType), one api.EventLine per line,
// flushed line by line. A follow stream ends when the client goes away
// or the server shuts down (Server.Context).
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	es, ok := s.Service.(EventStreamer)
	if !ok {
		s.reply(w, r, nil, fmt.Errorf("%w: this server does not stream events", api.ErrNotFound))
		return
	}
	q := r.URL.Query()
	req := api.EventsRequest{Target: api.Target{Site: q.Get("site"), Root: q.Get("root")}}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.reply(w, r, nil, api.Usagef("limit %q is not a count", v))
			return
		}
		req.Limit = n
	}
	switch v := q.Get("follow"); v {
	case "", "0", "false":
	case "1", "true":
		req.Follow = true
	default:
		s.reply(w, r, nil, api.Usagef("follow %q: use 1 or 0", v))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if s.Context != nil {
		stop := context.AfterFunc(s.Context, cancel)
		defer stop()
	}
	stream, err := es.Events(ctx, req)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	w.Header().Set("Content-Type", client.EventsType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush() // the client sees the stream start at once
	}
	enc := json.NewEncoder(w)
	err = stream(ctx, func(ev api.EventLine) error {
		if err := enc.Encode(ev); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log().Warn("control: /v0/events stream ended", "err", err)
	}
}

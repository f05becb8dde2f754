package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/example/release-agent/api"
)

// EventsType is the Content-Type of the GET /v0/events stream:
// newline-delimited JSON, one api.EventLine per line.
const EventsType = "application/x-ndjson"

// Events streams the journal of req's target from GET /v0/events: emit is
// called with each event, oldest first (the last req.Limit, 0 all), and
// with req.Follow each new one as the daemon appends it, until ctx is done
// (then Events returns nil), the daemon ends the stream (nil, also when it
// shuts down) or emit returns an error (returned).
func (c *Client) Events(ctx context.Context, req api.EventsRequest, emit func(api.EventLine) error) error {
	q := query(req.Target)
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	if req.Follow {
		q.Set("follow", "1")
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+Host+"/v0/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.send(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev api.EventLine
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("release-agent at %s: /v0/events: decoding %q: %w", c.socket(), sc.Bytes(), err)
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("release-agent at %s: /v0/events: %w", c.socket(), err)
	}
	return nil
}

package api

import "github.com/example/release-agent/releases"

// EventLine is one event of `releasectl events --json` and of the stream
// of GET /v0/events (one JSON object per line, NDJSON): a journal event
// with the schema version and the site it belongs to ("" for a --root
// store).
type EventLine struct {
	Schema int    `json:"schema"`
	Site   string `json:"site,omitempty"`
	releases.Event
}

// EventsRequest says which events to stream: the last Limit of the
// journal (0: all), then, with Follow, every new one until the caller
// stops.
type EventsRequest struct {
	Target
	Limit  int  `json:"limit,omitempty"`
	Follow bool `json:"follow,omitempty"`
}

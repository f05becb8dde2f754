package accesslog

import (
	"encoding/json"
	"time"
)

// caddyLine holds the fields of Caddy's JSON access log (logger
// "http.log.access") that the agent reads. ts and duration are seconds as
// floats in Caddy's default encoder.
type caddyLine struct {
	TS      *float64 `json:"ts"`
	Status  *int     `json:"status"`
	Size    int64    `json:"size"`
	Dur     float64  `json:"duration"`
	Request struct {
		URI *string `json:"uri"`
	} `json:"request"`
}

// ParseCaddy parses one line of Caddy's JSON access log (ts, status,
// request.uri, size, duration). Caddy cannot log the resolved document root,
// so Release and Root are always "": attribute such entries by time (see
// README, "Watching traffic and canaries", Caddy). A status outside 100..999
// is an error, as for ParseNginx. Errors wrap ErrFormat.
func ParseCaddy(line []byte) (Entry, error) {
	var c caddyLine
	if err := json.Unmarshal(line, &c); err != nil {
		return Entry{}, formatErr("not a JSON object: "+err.Error(), line)
	}
	if c.TS == nil || c.Status == nil || c.Request.URI == nil {
		return Entry{}, formatErr("missing ts, status or request.uri", line)
	}
	if *c.TS < 0 || *c.TS > maxSeconds || *c.Status < 100 || *c.Status > 999 || c.Size < 0 || c.Dur < 0 || c.Dur > 1e6 {
		return Entry{}, formatErr("ts, status, size or duration out of range", line)
	}
	sec := int64(*c.TS)
	return Entry{
		Time:     time.Unix(sec, int64((*c.TS-float64(sec))*1e9)),
		Status:   *c.Status,
		Path:     requestPath([]byte(*c.Request.URI)),
		Bytes:    c.Size,
		Duration: time.Duration(c.Dur * float64(time.Second)),
	}, nil
}

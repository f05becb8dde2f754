package releases

import (
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The journal line and the lock holder are written on every switch. They
// are encoded here by hand, byte for byte as json.Marshal encodes them
// (TestJSONEncodingMatchesMarshal, FuzzJSONEncoding): json.Marshal builds
// its reflection caches for each type on first use, and in a process that
// only switches a release that was about a quarter of its own work
// (measured with perf on releasectl rollback).

// appendJSON appends the JSON object json.Marshal gives for w.
func (w *Who) appendJSON(b []byte) []byte {
	b = append(b, `{"uid":`...)
	b = strconv.AppendInt(b, int64(w.UID), 10)
	b = appendField(b, "user", w.User)
	b = appendField(b, "sudo_user", w.SudoUser)
	b = appendField(b, "ssh_client", w.SSHClient)
	if w.PID != 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(w.PID), 10)
	}
	b = appendField(b, "via", w.Via)
	return append(b, '}')
}

// appendJSON appends the JSON object json.Marshal gives for ev.
func (ev *Event) appendJSON(b []byte) []byte {
	b = append(b, `{"time":`...)
	b = appendJSONTime(b, ev.Time)
	b = append(b, `,"event":`...)
	b = appendJSONString(b, ev.Event)
	b = appendField(b, "release", ev.Release)
	b = appendField(b, "from", ev.From)
	b = appendField(b, "source", ev.Source)
	b = appendField(b, "sha256", ev.SHA256)
	if ev.Provenance != nil {
		b = append(b, `,"provenance":`...)
		b = ev.Provenance.appendJSON(b)
	}
	b = append(b, `,"who":`...)
	b = ev.Who.appendJSON(b)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, ev.Outcome)
	b = appendField(b, "error", ev.Error)
	b = appendField(b, "detail", ev.Detail)
	return append(b, '}')
}

// appendJSON appends the JSON object json.Marshal gives for p (Meta in
// sorted key order, as json.Marshal writes maps).
func (p *Provenance) appendJSON(b []byte) []byte {
	b = append(b, '{')
	n := len(b)
	b = appendField(b, "commit", p.Commit)
	b = appendField(b, "message", p.Message)
	if len(p.Meta) > 0 {
		b = append(b, `,"meta":{`...)
		for i, k := range slices.Sorted(maps.Keys(p.Meta)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, p.Meta[k])
		}
		b = append(b, '}')
	}
	if len(b) > n {
		b = append(b[:n], b[n+1:]...) // the first field's leading comma
	}
	return append(b, '}')
}

// appendJSON appends the JSON object json.Marshal gives for h.
func (h *Holder) appendJSON(b []byte) []byte {
	b = append(b, `{"pid":`...)
	b = strconv.AppendInt(b, int64(h.PID), 10)
	b = append(b, `,"command":`...)
	b = appendJSONString(b, h.Command)
	b = append(b, `,"since":`...)
	b = appendJSONTime(b, h.Since)
	if h.Who != nil {
		b = append(b, `,"who":`...)
		b = h.Who.appendJSON(b)
	}
	b = appendField(b, "op", h.Op)
	return append(b, '}')
}

// appendField appends `,"key":"value"`, or nothing if value is empty
// (omitempty).
func appendField(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted). The times written here are clock readings, well
// inside the years 0-9999 that MarshalJSON accepts.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does with HTML
// escaping on (json.Marshal's default): <, > and & as \u003c, \u003e,
// \u0026; control characters as \n, \r, \t, \b, \f or \u00XX; invalid
// UTF-8 as \ufffd; U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

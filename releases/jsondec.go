package releases

import (
	"encoding/json"
	"time"

	"github.com/example/release-agent/internal/jsonlite"
)

// The documents read on the path of every switch (the checkpoint, the
// journal lines after it, the record of the target) are decoded with
// package jsonlite when they have the plain form this package writes,
// and with encoding/json otherwise, with the same result either way
// (FuzzDecode* compare the two). See jsonlite for why.

// unmarshal decodes b into v with fast, or with encoding/json if fast
// does not handle b. v must be zero.
func unmarshal[T any](b []byte, v *T, fast func(*jsonlite.Reader, *T)) error {
	r := jsonlite.NewReader(b)
	fast(&r, v)
	if r.End() {
		return nil
	}
	var zero T
	*v = zero
	return json.Unmarshal(b, v)
}

var checkpointKeys = []string{"version", "journal_offset", "history", "activated", "bad"}

func decodeCheckpoint(r *jsonlite.Reader, c *liveState) {
	r.Object(checkpointKeys, func(k []byte) {
		if r.Null() {
			switch string(k) {
			case "history":
				c.History = nil
			case "activated":
				c.Activated = nil
			case "bad":
				c.Bad = nil
			}
			return
		}
		switch string(k) {
		case "version":
			c.Version = int(r.Int())
		case "journal_offset":
			c.Offset = r.Int()
		case "history":
			c.History = []string{}
			r.Array(func() { c.History = append(c.History, r.Str()) })
		case "activated":
			c.Activated = map[string]time.Time{}
			r.Object(nil, func(id []byte) { c.Activated[string(id)] = r.Time() })
		case "bad":
			c.Bad = map[string]string{}
			r.Object(nil, func(id []byte) { c.Bad[string(id)] = r.Str() })
		default:
			r.Skip()
		}
	})
}

// switchEvent is the part of a journal line that the live state reads.
type switchEvent struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	Release string    `json:"release"`
	From    string    `json:"from"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail"`
}

var switchEventKeys = []string{"time", "event", "release", "from", "outcome", "detail"}

func decodeSwitchEvent(r *jsonlite.Reader, ev *switchEvent) {
	r.Object(switchEventKeys, func(k []byte) {
		if r.Null() {
			return
		}
		switch string(k) {
		case "time":
			ev.Time = r.Time()
		case "event":
			ev.Event = r.Str()
		case "release":
			ev.Release = r.Str()
		case "from":
			ev.From = r.Str()
		case "outcome":
			ev.Outcome = r.Str()
		case "detail":
			ev.Detail = r.Str()
		default:
			r.Skip()
		}
	})
}

var recordKeys = []string{"id", "status", "created", "source", "provenance", "who", "files", "bytes", "linked_files",
	"linked_bytes", "hashed", "validated", "pinned", "bad", "error", "last_activated", "origin"}

func decodeRecord(r *jsonlite.Reader, rec *Record) {
	r.Object(recordKeys, func(k []byte) {
		if r.Null() {
			switch string(k) {
			case "last_activated":
				rec.Activated = nil
			case "provenance":
				rec.Provenance = nil
			}
			return
		}
		switch string(k) {
		case "id":
			rec.ID = r.Str()
		case "status":
			rec.Status = Status(r.Str())
		case "created":
			rec.Created = r.Time()
		case "source":
			decodeSource(r, &rec.Source)
		case "provenance":
			if rec.Provenance == nil {
				rec.Provenance = &Provenance{}
			}
			decodeProvenance(r, rec.Provenance)
		case "who":
			decodeWho(r, &rec.Who)
		case "files":
			rec.Files = int(r.Int())
		case "bytes":
			rec.Bytes = r.Int()
		case "linked_files":
			rec.LinkedFiles = int(r.Int())
		case "linked_bytes":
			rec.LinkedBytes = r.Int()
		case "hashed":
			rec.Hashed = r.Bool()
		case "validated":
			rec.Validated = r.Bool()
		case "pinned":
			rec.Pinned = r.Bool()
		case "bad":
			rec.Bad = r.Str()
		case "error":
			rec.Error = r.Str()
		case "last_activated":
			t := r.Time()
			rec.Activated = &t
		case "origin":
			rec.Origin = r.Str()
		default:
			r.Skip()
		}
	})
}

var sourceKeys = []string{"spec", "kind", "sha256", "size", "meta"}

func decodeSource(r *jsonlite.Reader, s *SourceInfo) {
	r.Object(sourceKeys, func(k []byte) {
		if r.Null() {
			if string(k) == "meta" {
				s.Meta = nil
			}
			return
		}
		switch string(k) {
		case "spec":
			s.Spec = r.Str()
		case "kind":
			s.Kind = r.Str()
		case "sha256":
			s.SHA256 = r.Str()
		case "size":
			s.Size = r.Int()
		case "meta":
			if s.Meta == nil {
				s.Meta = map[string]string{}
			}
			r.Object(nil, func(mk []byte) { s.Meta[string(mk)] = r.Str() })
		default:
			r.Skip()
		}
	})
}

var provenanceKeys = []string{"commit", "message", "meta"}

func decodeProvenance(r *jsonlite.Reader, p *Provenance) {
	r.Object(provenanceKeys, func(k []byte) {
		if r.Null() {
			if string(k) == "meta" {
				p.Meta = nil
			}
			return
		}
		switch string(k) {
		case "commit":
			p.Commit = r.Str()
		case "message":
			p.Message = r.Str()
		case "meta":
			if p.Meta == nil {
				p.Meta = map[string]string{}
			}
			r.Object(nil, func(mk []byte) { p.Meta[string(mk)] = r.Str() })
		default:
			r.Skip()
		}
	})
}

var whoKeys = []string{"uid", "user", "sudo_user", "ssh_client", "pid", "via"}

func decodeWho(r *jsonlite.Reader, w *Who) {
	r.Object(whoKeys, func(k []byte) {
		if r.Null() {
			return
		}
		switch string(k) {
		case "uid":
			w.UID = int(r.Int())
		case "user":
			w.User = r.Str()
		case "sudo_user":
			w.SudoUser = r.Str()
		case "ssh_client":
			w.SSHClient = r.Str()
		case "pid":
			w.PID = int(r.Int())
		case "via":
			w.Via = r.Str()
		default:
			r.Skip()
		}
	})
}

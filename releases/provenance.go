package releases

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Provenance says where a release comes from in the build pipeline: the
// commit it was built from, a message, and free labels (KEY=VALUE: a CI
// job URL, a branch). It is given with `deploy|stage --commit --message
// --meta`, or read from the artifact's S3 metadata (see package deploy);
// every field is optional. Records and journal lines written before it
// existed have none, and read as before.
type Provenance struct {
	Commit  string            `json:"commit,omitempty"`  // hex, 4-64 digits, lower case
	Message string            `json:"message,omitempty"` // at most MaxMessage bytes
	Meta    map[string]string `json:"meta,omitempty"`    // at most MaxMeta entries
}

// Limits of a Provenance (Check).
const (
	MaxMessage   = 4096 // bytes of Message
	MaxMeta      = 32   // entries of Meta
	MaxMetaKey   = 64   // bytes of a Meta key: [a-z0-9_-]
	MaxMetaValue = 1024 // bytes of a Meta value
)

// IsZero reports whether p is nil or has nothing in it.
func (p *Provenance) IsZero() bool {
	return p == nil || p.Commit == "" && p.Message == "" && len(p.Meta) == 0
}

// Short is the commit cut to 10 digits, for tables ("" without one).
func (p *Provenance) Short() string {
	if p == nil {
		return ""
	}
	if len(p.Commit) > 10 {
		return p.Commit[:10]
	}
	return p.Commit
}

// Subject is the first line of the message.
func (p *Provenance) Subject() string {
	if p == nil {
		return ""
	}
	s, _, _ := strings.Cut(p.Message, "\n")
	return strings.TrimSpace(s)
}

// ProvenanceError names the field of a Provenance that is not valid.
// Field is "commit", "message" or "meta KEY" (or whatever name the
// caller gave, e.g. a flag or an S3 metadata key).
type ProvenanceError struct {
	Field string
	Value string // as given, cut to 80 bytes
	Why   string
}

func (e *ProvenanceError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Why)
}

func provErr(field, value, why string) *ProvenanceError {
	if len(value) > 80 {
		value = value[:80] + "..."
	}
	return &ProvenanceError{Field: field, Value: value, Why: why}
}

// CheckCommit checks a commit id: 4 to 64 hex digits (a short or full
// SHA-1 or SHA-256 git object name).
func CheckCommit(s string) error {
	if len(s) < 4 || len(s) > 64 || strings.Trim(s, "0123456789abcdefABCDEF") != "" {
		return provErr("commit", s, "not a commit id (4 to 64 hex digits)")
	}
	return nil
}

// CheckMessage checks a message: valid UTF-8 of at most MaxMessage
// bytes, no control characters but newline and tab.
func CheckMessage(s string) error {
	if len(s) > MaxMessage {
		return provErr("message", s, fmt.Sprintf("longer than %d bytes", MaxMessage))
	}
	if err := checkText(s, true); err != "" {
		return provErr("message", s, err)
	}
	return nil
}

// CheckMeta checks one label: the key is 1 to MaxMetaKey of [a-z0-9_-],
// the value valid UTF-8 of at most MaxMetaValue bytes without control
// characters.
func CheckMeta(k, v string) error {
	if k == "" || len(k) > MaxMetaKey || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		return provErr("meta key", k, fmt.Sprintf("want 1 to %d of a-z, 0-9, _ and -", MaxMetaKey))
	}
	if len(v) > MaxMetaValue {
		return provErr("meta "+k, v, fmt.Sprintf("longer than %d bytes", MaxMetaValue))
	}
	if err := checkText(v, false); err != "" {
		return provErr("meta "+k, v, err)
	}
	return nil
}

func checkText(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		if (r == '\n' || r == '\t') && multiline {
			continue
		}
		if unicode.IsControl(r) {
			return fmt.Sprintf("control character %U", r)
		}
	}
	return ""
}

// Check checks every field of p (nil is valid) and returns the first
// problem as a *ProvenanceError.
func (p *Provenance) Check() error {
	if p == nil {
		return nil
	}
	if p.Commit != "" {
		if err := CheckCommit(p.Commit); err != nil {
			return err
		}
	}
	if err := CheckMessage(p.Message); err != nil {
		return err
	}
	if len(p.Meta) > MaxMeta {
		return provErr("meta", fmt.Sprint(len(p.Meta), " entries"), fmt.Sprintf("more than %d entries", MaxMeta))
	}
	for _, k := range slices.Sorted(maps.Keys(p.Meta)) {
		if err := CheckMeta(k, p.Meta[k]); err != nil {
			return err
		}
	}
	return nil
}

// Normal returns p with the commit in lower case, or nil if p is zero.
func (p *Provenance) Normal() *Provenance {
	if p.IsZero() {
		return nil
	}
	q := *p
	q.Commit = strings.ToLower(q.Commit)
	if len(q.Meta) == 0 {
		q.Meta = nil
	}
	return &q
}

// Over returns p with each field that p lacks taken from base (p wins:
// flags over metadata), and Meta merged, p's values winning. Either may be
// nil; the result is nil when both are zero.
func (p *Provenance) Over(base *Provenance) *Provenance {
	if base.IsZero() {
		return p.Normal()
	}
	if p.IsZero() {
		return base.Normal()
	}
	q := *p
	if q.Commit == "" {
		q.Commit = base.Commit
	}
	if q.Message == "" {
		q.Message = base.Message
	}
	if len(base.Meta) > 0 {
		q.Meta = maps.Clone(base.Meta)
		maps.Copy(q.Meta, p.Meta)
	}
	return q.Normal()
}

// Package fleet is how many hosts switch to one release as one, with S3
// as the only coordinator: no server of its own, no home-made consensus.
//
// # Documents (contract)
//
// A fleet is an S3 prefix, e.g. s3://ops/fleet/www/. Under it:
//
//	desired.json        the desired state (Desired), written by operators
//	hosts/<host>.json   one report per member (HostReport), written by that member
//
// desired.json is only ever written with a conditional PUT: If-None-Match:
// * to create it, If-Match on the ETag that was read to replace it
// (Bucket.PutDesired, Bucket.Update). Two writers can therefore never
// interleave: the second one's PUT fails with 412 and it re-reads. Its
// generation grows by one with every write, so a member compares numbers,
// never times. A host report is written only by its host, so it needs no
// condition.
//
// Both documents carry a "schema" number (DesiredSchema, HostSchema). A
// reader refuses a schema newer than it knows (ErrSchema), naming the
// object, rather than act on fields it does not understand.
//
// # Phases
//
// In phase "stage" every member pulls, hashes and validates the artifact
// into a staged release (not live) and reports staged (or rejected or
// failed); it also links the staged release's hashed assets into the
// release it serves, so during the switch every host serves the assets of
// both. In phase "activate" every member makes the release labelled
// Release current (a symlink swap of something already on disk) and
// reports live. A member never moves away from desired.json by itself,
// except for its own health-check rollback, which it reports.
//
// Everything in this package is safe to call concurrently.
package fleet

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Schema versions of the documents.
const (
	DesiredSchema = 1
	HostSchema    = 1
)

// Object names under the fleet prefix.
const (
	DesiredName = "desired.json"
	HostsDir    = "hosts/"
)

// Phase is the phase of a desired state.
type Phase string

// Phases.
const (
	PhaseStage    Phase = "stage"
	PhaseActivate Phase = "activate"
)

// Artifact is what every member deploys: a SOURCE string as in
// releasectl deploy (s3://bucket/key or s3://bucket/prefix/) and, when
// known, the sha256 of the object's bytes, which members check.
type Artifact struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256,omitempty"`
}

// Desired is desired.json.
type Desired struct {
	Schema int `json:"schema"`
	// Generation grows by one with every write (the first is 1).
	Generation int64 `json:"generation"`
	// Release is the label of the release, the same on every host (the
	// local ids vN differ). A rollback names an earlier label again.
	Release  string   `json:"release"`
	Artifact Artifact `json:"artifact"`
	Phase    Phase    `json:"phase"`
	// Who wrote it (user@host of the operator), when, and why.
	Who     string    `json:"who"`
	When    time.Time `json:"when"`
	Message string    `json:"message,omitempty"`
	Commit  string    `json:"commit,omitempty"`
	// Releases remembers the artifact of every label this fleet has
	// deployed, newest last (at most MaxReleases), so that rollback and
	// activate can name an earlier label and members that lack it can
	// still stage it.
	Releases []Labelled `json:"releases,omitempty"`
}

// Labelled is a label and its artifact.
type Labelled struct {
	Release  string    `json:"release"`
	Artifact Artifact  `json:"artifact"`
	When     time.Time `json:"when"`
	Commit   string    `json:"commit,omitempty"`
	Message  string    `json:"message,omitempty"`
}

// MaxReleases bounds Desired.Releases.
const MaxReleases = 50

// State is a member's state for the generation it has seen.
type State string

// Member states.
const (
	StateStaging  State = "staging"
	StateStaged   State = "staged"
	StateLive     State = "live"
	StateRejected State = "rejected" // validation refused the artifact
	StateFailed   State = "failed"   // anything else went wrong
)

// HostRelease is a release on one host: the fleet's label and the local id.
type HostRelease struct {
	Release string `json:"release"`
	ID      string `json:"id"`
}

// HostReport is hosts/<host>.json.
type HostReport struct {
	Schema int    `json:"schema"`
	Host   string `json:"host"`
	// Generation is the generation of desired.json this report answers.
	Generation int64        `json:"generation"`
	Staged     *HostRelease `json:"staged,omitempty"`
	Live       *HostRelease `json:"live,omitempty"`
	State      State        `json:"state"`
	// Error is why the state is rejected or failed (the report for a
	// rejection), or why the host rolled back by itself.
	Error string `json:"error,omitempty"`
	// RolledBack is set when the host's own health check rolled it back
	// from the desired release (then Live is the release it went to).
	RolledBack string    `json:"rolled_back,omitempty"`
	Heartbeat  time.Time `json:"heartbeat"`
	Agent      string    `json:"agent,omitempty"` // release-agent version
}

// Errors the CLI and the follower branch on.
var (
	// ErrNoDesired: desired.json does not exist (a new fleet).
	ErrNoDesired = errors.New("fleet has no desired.json")
	// ErrConflict: a conditional PUT lost to another writer (412).
	ErrConflict = errors.New("desired.json was changed by another writer")
	// ErrSchema: a document's schema is newer than this program knows.
	ErrSchema = errors.New("unknown schema version")
	// ErrBadURL: a fleet URL is not s3://bucket/prefix/.
	ErrBadURL = errors.New("not a fleet URL")
	// ErrInvalid: a document has a field no member can act on.
	ErrInvalid = errors.New("invalid fleet document")
)

var labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckLabel reports whether label can name a release of a fleet.
func CheckLabel(label string) error {
	if !labelRE.MatchString(label) {
		return fmt.Errorf("%w: release label %q: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)", ErrInvalid, label)
	}
	return nil
}

func checkArtifact(field string, a Artifact) error {
	if !strings.HasPrefix(a.URL, "s3://") || strings.ContainsAny(a.URL, "\x00\n\r") {
		return fmt.Errorf("%w: %s.url %q: want s3://bucket/key or s3://bucket/prefix/", ErrInvalid, field, a.URL)
	}
	if _, err := hex.DecodeString(a.SHA256); a.SHA256 != "" && (err != nil || len(a.SHA256) != 64) {
		return fmt.Errorf("%w: %s.sha256 %q: want 64 hex digits or nothing", ErrInvalid, field, a.SHA256)
	}
	return nil
}

// Check reports the first field of d no member can act on (wrapping
// ErrInvalid and naming the field), or nil.
func (d *Desired) Check() error {
	if d.Schema < 1 || d.Schema > DesiredSchema {
		return fmt.Errorf("schema %d: %w (this program knows %d)", d.Schema, ErrSchema, DesiredSchema)
	}
	if d.Generation < 1 {
		return fmt.Errorf("%w: generation %d: must be at least 1", ErrInvalid, d.Generation)
	}
	if d.Phase != PhaseStage && d.Phase != PhaseActivate {
		return fmt.Errorf("%w: phase %q: want %q or %q", ErrInvalid, d.Phase, PhaseStage, PhaseActivate)
	}
	if err := CheckLabel(d.Release); err != nil {
		return err
	}
	if err := checkArtifact("artifact", d.Artifact); err != nil {
		return err
	}
	if len(d.Releases) > MaxReleases {
		return fmt.Errorf("%w: releases: %d entries, at most %d", ErrInvalid, len(d.Releases), MaxReleases)
	}
	for i, l := range d.Releases {
		if err := CheckLabel(l.Release); err != nil {
			return fmt.Errorf("releases[%d]: %w", i, err)
		}
		if err := checkArtifact(fmt.Sprintf("releases[%d].artifact", i), l.Artifact); err != nil {
			return err
		}
	}
	return nil
}

// ParseDesired decodes and checks a desired.json.
func ParseDesired(body []byte) (*Desired, error) {
	var d Desired
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("%w: not JSON of a desired state: %v", ErrInvalid, err)
	}
	if err := d.Check(); err != nil {
		return nil, err
	}
	return &d, nil
}

// ParseHostReport decodes and checks a hosts/<host>.json.
func ParseHostReport(body []byte) (*HostReport, error) {
	var r HostReport
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: not JSON of a host report: %v", ErrInvalid, err)
	}
	if r.Schema < 1 || r.Schema > HostSchema {
		return nil, fmt.Errorf("schema %d: %w (this program knows %d)", r.Schema, ErrSchema, HostSchema)
	}
	if !labelRE.MatchString(r.Host) {
		return nil, fmt.Errorf("%w: host %q", ErrInvalid, r.Host)
	}
	return &r, nil
}

// ParseURL splits "s3://bucket/prefix/" into bucket and prefix (which
// ends in "/", or is "" for the bucket's top).
func ParseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%w: %q (want s3://bucket/prefix/)", ErrBadURL, s)
	}
	prefix = strings.TrimPrefix(u.Path, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return "", "", fmt.Errorf("%w: %q: a fleet is a prefix, end it with /", ErrBadURL, s)
	}
	if strings.Contains(prefix, "//") || strings.Contains("/"+prefix, "/../") || strings.Contains("/"+prefix, "/./") {
		return "", "", fmt.Errorf("%w: %q: not a clean prefix", ErrBadURL, s)
	}
	return u.Host, prefix, nil
}

// Find returns the artifact of label in d (the current release or one
// of d.Releases), or false.
func (d *Desired) Find(label string) (Labelled, bool) {
	if d.Release == label {
		return Labelled{Release: d.Release, Artifact: d.Artifact, When: d.When, Commit: d.Commit, Message: d.Message}, true
	}
	for i := len(d.Releases) - 1; i >= 0; i-- {
		if d.Releases[i].Release == label {
			return d.Releases[i], true
		}
	}
	return Labelled{}, false
}

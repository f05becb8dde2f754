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
	"errors"
	"fmt"
	"net/url"
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
)

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

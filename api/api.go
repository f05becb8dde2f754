// Package api defines the operations on release stores and the documents
// they return: the JSON that `releasectl --json` prints and that the
// daemon's control API (HTTP+JSON over a unix socket, paths under /v0/)
// exchanges. One Service interface has two implementations: package
// service works on the store directly (releasectl without a daemon, and
// the daemon itself), package client talks to the daemon.
//
// Every result document carries Schema; it changes only when a field
// changes meaning or disappears (adding fields does not change it).
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

// Schema is the version of every document in this package.
const Schema = 1

// Exit codes of releasectl (the contract).
const (
	ExitOK       = 0 // done
	ExitFailed   = 1 // failed, nothing changed
	ExitUsage    = 2 // usage error
	ExitRejected = 3 // rejected by validation, nothing changed, report printed
)

// Sentinel errors the CLI branches on. Both implementations of Service
// return errors that wrap them (the client reconstructs them from Error.Code).
var (
	ErrUsage    = errors.New("usage error")
	ErrRejected = errors.New("rejected by validation")
	ErrNotFound = errors.New("not found")
	ErrLocked   = releases.ErrLocked
	ErrDenied   = errors.New("permission denied")
	// ErrNoDaemon is wrapped by the errors of a client whose socket nobody
	// listens on (package client's ErrNoDaemon is this value).
	ErrNoDaemon = errors.New("release-agent is not running")
)

// Error is the JSON body of a failed request (and, with --json, what
// releasectl prints on stderr).
type Error struct {
	Schema  int    `json:"schema"`
	Code    string `json:"code"` // "usage", "rejected", "not_found", "locked", "denied", "failed"
	Message string `json:"message"`
	Exit    int    `json:"exit"`
	// Report is the validation report of a rejected deploy, if any.
	Report *validate.Report `json:"report,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Unwrap maps Code back to a sentinel so errors.Is works on client errors.
func (e *Error) Unwrap() error {
	switch e.Code {
	case "usage":
		return ErrUsage
	case "rejected":
		return ErrRejected
	case "not_found":
		return ErrNotFound
	case "locked":
		return ErrLocked
	case "denied":
		return ErrDenied
	}
	return nil
}

// ErrorOf classifies err into an *Error document.
func ErrorOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	e = &Error{Schema: Schema, Code: "failed", Message: err.Error(), Exit: ExitFailed}
	switch {
	case errors.Is(err, ErrUsage):
		e.Code, e.Exit = "usage", ExitUsage
	case errors.Is(err, ErrRejected):
		e.Code, e.Exit = "rejected", ExitRejected
	case errors.Is(err, ErrNotFound), errors.Is(err, releases.ErrNoRelease):
		e.Code = "not_found"
	case errors.Is(err, ErrLocked):
		e.Code = "locked"
	case errors.Is(err, ErrDenied):
		e.Code = "denied"
	}
	return e
}

// Usagef returns an error wrapping ErrUsage.
func Usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// Target names the site an operation applies to: Site (a name from the
// daemon's config) or Root (a directory). Exactly one is set, except with
// a daemon that has exactly one site, where both may be empty.
type Target struct {
	Site string `json:"site,omitempty"`
	Root string `json:"root,omitempty"`
}

// Release is one release as listed.
type Release struct {
	releases.Record
	Current  bool `json:"current"`
	Previous bool `json:"previous"`
	// Damage says what is wrong with a release that should have a tree
	// (missing, files missing); empty when nothing is known to be.
	Damage string `json:"damage,omitempty"`
}

// ListResult is the document of `list`.
type ListResult struct {
	Schema   int       `json:"schema"`
	Root     string    `json:"root"`
	Current  string    `json:"current"`
	Previous string    `json:"previous"`
	Releases []Release `json:"releases"` // newest first
	// DiskBytes is the space all release trees use together (hardlinked
	// files counted once); LogicalBytes what they would use as copies.
	DiskBytes    int64 `json:"disk_bytes"`
	LogicalBytes int64 `json:"logical_bytes"`
	// NoStore is set when Root holds no release store yet (nothing was
	// deployed there; list created nothing).
	NoStore bool `json:"no_store,omitempty"`
	// Warnings name damage found (a missing tree, a damaged record),
	// with what to do; absent when there is none.
	Warnings []string `json:"warnings,omitempty"`
}

// StatusResult is the document of `status`.
type StatusResult struct {
	Schema   int              `json:"schema"`
	Root     string           `json:"root"`
	Current  *Release         `json:"current"` // nil before the first activation
	Previous string           `json:"previous"`
	Lock     *releases.Holder `json:"lock"` // the writer holding the lock, if any
	Daemon   bool             `json:"daemon"`
	// InProgress describes a deploy the daemon is running, if any.
	InProgress string `json:"in_progress,omitempty"`
	// NoStore is set when Root holds no release store yet (status
	// created nothing).
	NoStore bool `json:"no_store,omitempty"`
	// Warnings name damage of the live release (its tree or files
	// missing, its record damaged); absent when there is none.
	Warnings []string `json:"warnings,omitempty"`
	// GaveUp is the artifact the daemon's triggers last gave up on
	// (transient failures past [site.retry], or a permanent failure),
	// until a triggered deploy of the site succeeds; absent otherwise.
	GaveUp *GiveUp `json:"gave_up,omitempty"`
	// Canary is the running canary, if any.
	Canary *CanaryStatus `json:"canary,omitempty"`
	// Watch is the daemon's watch of the access log ([site.watch]).
	Watch *WatchStatus `json:"watch,omitempty"`
}

// GiveUp is an artifact a trigger stopped deploying: it is not tried
// again until it changes (new ETag or version).
type GiveUp struct {
	Source   string    `json:"source"` // s3://bucket/key
	ETag     string    `json:"etag,omitempty"`
	Attempts int       `json:"attempts"` // failed deploys of it
	Error    string    `json:"error"`    // the last one's
	Time     time.Time `json:"time"`
}

// DeployRequest asks for a new release from Source.
//
// # Who reads the artifact
//
// The daemon never opens a local path for a caller: it would read it with
// its own rights, not the caller's. Over the control socket Source is
// either s3://... (the daemon fetches it) or a label, the path as the
// caller typed it, for an artifact the caller sends itself in Stream:
// package client turns a local path into a stream with the caller's
// rights (a file as it is, a directory as a tar made on the fly). The
// wire format is POST /v0/deploy with Content-Type
// application/octet-stream, this document as JSON in the header
// Release-Agent-Request (non-ASCII escaped as \uXXXX), and the archive
// (tar, tar.gz, tar.zst or zip, told apart by its first bytes) as the
// body. A JSON-bodied deploy of a local path is refused (api.ErrDenied).
// The record keeps Source with Kind "stream:FORMAT" and Meta
// "streamed": "true".
type DeployRequest struct {
	Target
	// Source is s3://bucket/key, s3://bucket/prefix/, a local path (read
	// by whoever serves the request: only releasectl without a daemon),
	// or, with Stream, the label of the stream ("-" for standard input).
	Source   string        `json:"source"`
	SHA256   string        `json:"sha256,omitempty"`
	Activate bool          `json:"activate"` // false: stage only
	NoHash   bool          `json:"no_hash,omitempty"`
	NoVerify bool          `json:"no_validate,omitempty"`
	Keep     int           `json:"keep,omitempty"` // 0: the site's default
	Wait     time.Duration `json:"wait,omitempty"` // how long to wait for the lock
	// Timeout bounds the whole deploy (0: none); a deploy that runs out
	// fails and changes nothing, like any other failure.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Provenance: the commit, message and labels of the build (all
	// optional; see releases.Provenance for the limits: a value out of
	// them is a usage error naming the field). Fields missing here are
	// taken from the S3 object's or marker's metadata (x-amz-meta-git-sha
	// or x-amz-meta-commit, x-amz-meta-message, other x-amz-meta-* as
	// labels): the request wins over the metadata.
	Provenance *releases.Provenance `json:"provenance,omitempty"`
	// StreamFrom says what Stream was made from ("dir", "file", "stdin");
	// the caller's claim, recorded with the source.
	StreamFrom string `json:"stream_from,omitempty"`
	// Stream, if set, is the artifact's bytes (see "Who reads the
	// artifact"); SHA256 is then checked on them. It is not part of the
	// JSON document: package client sends it as the request body.
	Stream io.Reader `json:"-"`

	// DryRun stages, hashes and validates, then removes everything: no
	// id is used and nothing is recorded (see DeployResult.DryRun).
	DryRun bool `json:"dry_run,omitempty"`
	// Force makes a release even when the artifact's content equals the
	// live release's (otherwise a no-op, see DeployResult.AlreadyLive).
	Force bool `json:"force,omitempty"`
}

// DeployResult is the document of `deploy` and `stage`.
type DeployResult struct {
	Schema    int              `json:"schema"`
	Release   Release          `json:"release,omitzero"` // absent when no release was made (dry run, already live)
	Activated bool             `json:"activated"`
	Previous  string           `json:"previous,omitempty"` // what was live before, if activated
	Pruned    []string         `json:"pruned,omitempty"`
	Cleaned   []string         `json:"cleaned,omitempty"` // leftovers of interrupted runs removed first
	Report    *validate.Report `json:"report,omitempty"`  // validation report
	Timings   []Timing         `json:"timings"`
	Warnings  []string         `json:"warnings,omitempty"`
	Finished  time.Time        `json:"finished"`

	// DryRun: nothing was made (Release is empty); Changes lists the
	// files added, removed and changed against the live release.
	DryRun  bool              `json:"dry_run,omitempty"`
	Changes []manifest.Change `json:"changes,omitempty"`
	// AlreadyLive is the id of the live release when the artifact's
	// content (the own files of the staged tree: paths, sha256, modes,
	// links) equals it: without Force no release was made (Release is
	// empty) and nothing was recorded.
	AlreadyLive string `json:"already_live,omitempty"`
	// Canary is set when the release was started as a canary instead of
	// activated ([site.watch] canary = "auto").
	Canary *CanaryResult `json:"canary,omitempty"`
}

// Timing is the duration of one pipeline stage.
type Timing struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
}

// ActivateRequest makes a release current. For Rollback, ID may be empty
// (the release live before the current one).
type ActivateRequest struct {
	Target
	ID     string        `json:"id,omitempty"`
	Reason string        `json:"reason,omitempty"`
	Wait   time.Duration `json:"wait,omitempty"`
}

// ActivateResult is the document of `activate` and `rollback`.
type ActivateResult struct {
	Schema  int      `json:"schema"`
	From    string   `json:"from"`
	To      string   `json:"to"`
	Cleaned []string `json:"cleaned,omitempty"`
	// Seconds from taking the lock to the durable swap.
	Seconds float64 `json:"seconds"`
	// Warnings: what the switch could not do and went on without (e.g.
	// carrying assets from a release whose tree is gone).
	Warnings []string `json:"warnings,omitempty"`
	// CanaryAborted: a rollback without a target while a canary ran
	// ended the canary (From) and left current (To) as it was.
	CanaryAborted bool `json:"canary_aborted,omitempty"`
}

// Canary actions.
const (
	CanaryStart   = "start"
	CanaryResize  = "resize"
	CanaryPromote = "promote"
	CanaryAbort   = "abort"
)

// CanaryRequest starts a canary of the staged release ID for Percent of
// clients (start; 0 means the site's canary_percent, 10 by default),
// changes its share (resize), makes it current for everyone (promote) or
// ends it (abort). See releases "Canaries" for the contract.
type CanaryRequest struct {
	Target
	Action  string        `json:"action"`
	ID      string        `json:"id,omitempty"`
	Percent int           `json:"percent,omitempty"`
	Reason  string        `json:"reason,omitempty"`
	Wait    time.Duration `json:"wait,omitempty"`
}

// CanaryResult is the document of canary, promote and abort.
type CanaryResult struct {
	Schema int    `json:"schema"`
	Action string `json:"action"`
	// Release is the canary's release; Stable the current one (after a
	// promote: the canary, now current; From: what was current before).
	Release string `json:"release"`
	Stable  string `json:"stable"`
	From    string `json:"from,omitempty"`
	// Percent is the canary's share after the action (0 once it ended).
	Percent int     `json:"percent"`
	Seconds float64 `json:"seconds"`
	// Warnings: what the carry-over could not do.
	Warnings []string `json:"warnings,omitempty"`
}

// CanaryStatus is the running canary in a StatusResult.
type CanaryStatus struct {
	Release string    `json:"release"`
	Percent int       `json:"percent"`
	Since   time.Time `json:"since,omitzero"`
}

// WatchStatus is the daemon's watch of a site ([site.watch]): the
// release it judges (or judged last), its verdict so far, and each
// release's traffic over the last window.
type WatchStatus struct {
	// Release is the watched release; Baseline what it is compared with.
	Release  string    `json:"release,omitempty"`
	Baseline string    `json:"baseline,omitempty"`
	Canary   bool      `json:"canary,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	// Decision is pending, pass, rollback or not-judged; Reason has the
	// figures.
	Decision string    `json:"decision,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Decided  time.Time `json:"decided,omitzero"`
	// Traffic is per release over the last window, from the access log.
	Traffic []Traffic `json:"traffic,omitempty"`
	// LogError says why the access log cannot be read, if it cannot.
	LogError string `json:"log_error,omitempty"`
}

// Traffic is one release's requests in a window of the access log.
type Traffic struct {
	Release    string  `json:"release"`
	Requests   int64   `json:"requests"`
	Pages      int64   `json:"pages"`
	Page404    int64   `json:"page_404"`
	Other4xx   int64   `json:"other_4xx"`
	Server5xx  int64   `json:"server_5xx"`
	PageErrors int64   `json:"page_errors"`
	ErrorRate  float64 `json:"page_error_rate"` // percent
	P50        float64 `json:"p50_seconds"`
	P90        float64 `json:"p90_seconds"`
	P99        float64 `json:"p99_seconds"`
}

// FsckRequest checks (and with Repair, repairs) a store. It is not part
// of Service: releasectl runs it on the store itself, with or without a
// daemon (a repair takes the store's lock like every writer).
type FsckRequest struct {
	Target
	Repair bool          `json:"repair,omitempty"`
	Full   bool          `json:"full,omitempty"` // compare file contents (sha256) too
	Wait   time.Duration `json:"wait,omitempty"`
}

// FsckResult is the document of `fsck`.
type FsckResult struct {
	Schema int    `json:"schema"`
	Root   string `json:"root"`
	// Clean: no problem is left (none found, or all repaired).
	Clean    bool               `json:"clean"`
	Problems []releases.Problem `json:"problems"`
	// Cleaned: what the lock's recovery did first (with Repair).
	Cleaned []string `json:"cleaned,omitempty"`
}

// HistoryResult is the document of `history`: journal events, oldest first.
type HistoryResult struct {
	Schema int              `json:"schema"`
	Events []releases.Event `json:"events"`
	// Skipped counts lines of the journal that did not parse (a torn last line).
	Skipped int `json:"skipped,omitempty"`
}

// DiffResult is the document of `diff vA vB`.
type DiffResult struct {
	Schema  int               `json:"schema"`
	From    string            `json:"from"`
	To      string            `json:"to"`
	Changes []manifest.Change `json:"changes"`
}

// ManifestResult is the document of `manifest vN`: the release's own
// files and its content-hashed assets (logical path -> hashed path, sha256,
// size, SRI integrity).
type ManifestResult struct {
	Schema int              `json:"schema"`
	ID     string           `json:"id"`
	Files  []manifest.Entry `json:"files"`
	Assets []Asset          `json:"assets"`
}

// Asset is one content-hashed file of a release, as the hash stage
// records it (the "hashes" extra of the store); see manifest.Asset.
type Asset = manifest.Asset

// PruneRequest removes old releases beyond Keep.
type PruneRequest struct {
	Target
	Keep int `json:"keep,omitempty"` // 0: the site's default
	// OlderThan prunes by age: only releases that left current (or were
	// staged, never live) more than OlderThan ago. With OlderThan and no
	// Keep, no release is kept by count; without it the site's keep_for
	// applies.
	OlderThan time.Duration `json:"older_than,omitempty"`
	DryRun    bool          `json:"dry_run,omitempty"`
	Wait      time.Duration `json:"wait,omitempty"`
}

// PruneResult is the document of `prune`.
type PruneResult struct {
	Schema  int      `json:"schema"`
	Pruned  []string `json:"pruned"`
	Kept    []string `json:"kept"`
	Cleaned []string `json:"cleaned,omitempty"`
}

// PinRequest pins or unpins a release.
type PinRequest struct {
	Target
	ID   string        `json:"id"`
	Pin  bool          `json:"pin"`
	Wait time.Duration `json:"wait,omitempty"`
}

// PinResult is the document of `pin` and `unpin`.
type PinResult struct {
	Schema  int    `json:"schema"`
	ID      string `json:"id"`
	Pinned  bool   `json:"pinned"`
	Changed bool   `json:"changed"`
}

// ValidateRequest validates a directory or a release of Target.
type ValidateRequest struct {
	Target
	Path string `json:"path"` // a directory or a release id "vN"
}

// ValidateResult is the document of `validate`.
type ValidateResult struct {
	Schema   int              `json:"schema"`
	Rejected bool             `json:"rejected"`
	Report   *validate.Report `json:"report"`
}

// Service is every operation of releasectl. Implementations are safe for
// concurrent use; operations that change a store take its lock (waiting up
// to the request's Wait), reads never block. who is taken by the
// implementation (the local user, or the daemon's peer credentials).
type Service interface {
	Deploy(ctx context.Context, req DeployRequest) (*DeployResult, error)
	Activate(ctx context.Context, req ActivateRequest) (*ActivateResult, error)
	Rollback(ctx context.Context, req ActivateRequest) (*ActivateResult, error)
	List(ctx context.Context, t Target) (*ListResult, error)
	Status(ctx context.Context, t Target) (*StatusResult, error)
	History(ctx context.Context, t Target, limit int) (*HistoryResult, error)
	Diff(ctx context.Context, t Target, a, b string) (*DiffResult, error)
	Manifest(ctx context.Context, t Target, id string) (*ManifestResult, error)
	Prune(ctx context.Context, req PruneRequest) (*PruneResult, error)
	Pin(ctx context.Context, req PinRequest) (*PinResult, error)
	Validate(ctx context.Context, req ValidateRequest) (*ValidateResult, error)
	Canary(ctx context.Context, req CanaryRequest) (*CanaryResult, error)
}

// FleetRequest is what releasectl's fleet verb hands to `release-agent
// fleet-exec` on its standard input: releasectl parses the command line
// (its one parser) but does not link the S3 client, whose start-up cost
// would slow every rollback (see cmd/releasectl's deps test); the helper,
// installed beside it, does the S3 work and prints the result (a table,
// or with JSON the fleet Result document) on the standard output and
// errors as releasectl does, and exits with releasectl's exit status.
type FleetRequest struct {
	Schema int `json:"schema"`
	// Fleet is the fleet's S3 prefix, s3://bucket/prefix/.
	Fleet string `json:"fleet"`
	// Command is deploy, status, rollback or activate; Arg its ARTIFACT
	// (deploy) or LABEL (activate).
	Command string `json:"command"`
	Arg     string `json:"arg,omitempty"`
	// Deploy's release.
	Label   string `json:"label,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Message string `json:"message,omitempty"`
	// To is rollback's target label ("" = the one before).
	To string `json:"to,omitempty"`
	// Membership and time bounds.
	Hosts            []string      `json:"hosts,omitempty"`
	AllowMissing     bool          `json:"allow_missing,omitempty"`
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	Wait             time.Duration `json:"wait,omitempty"`
	// Who is the operator ("user@host"), recorded in desired.json.
	Who  string `json:"who,omitempty"`
	JSON bool   `json:"json,omitempty"`
}

// Package deploy runs one deploy on one release store: fetch → stages
// (hash, validate, ...) → commit → activate → prune.
//
// # Guarantees
//
// Deploy holds the store's writer lock from start to end.
//
// Atomic: two steps only. The commit moves the finished tree from
// state/staging/vN to releases/vN by one rename(2), after one syncfs(2)
// has made its data durable; activation moves current to it by one
// atomic symlink swap. A reader of current sees the old release or the
// new one, whole, never a mix.
//
// Until the commit nothing outside state/staging/vN changes: the live
// tree, current and the other releases are untouched. On any failure
// before or during the commit (bad or missing artifact, limits, rejected
// tree, full disk, cancelled or timed-out ctx) the staging tree is
// removed and what is left is: the id, used up, with a record of status
// failed or rejected holding the error; a journal event; and, for a
// rejected release, its "report" extra. current keeps pointing at the
// release it pointed at. A source that cannot be opened at all (a missing
// path) fails before an id is allocated, and nothing is recorded.
//
// After the commit the release is complete in releases/vN, with its
// manifest and record (status staged) in state/. If activation then fails
// the release stays staged and can be activated later. Pruning runs last
// and its failure does not undo the activation (it is reported as a
// warning). With Request.Activate false the deploy stops after the commit.
//
// # Stages
//
// The stages between fetch and commit are values of the Stage interface,
// listed in Request.Stages in the order they run, usually HashStage then
// ValidateStage. Each transforms or checks the staged tree in place and
// keeps Work.Manifest true (see Work.Rehash and Work.Update). A stage that
// refuses the release returns a *RejectedError; the id is then recorded as
// rejected.
//
// # Hand-off between stages
//
// Stages hand data to each other through typed fields of Work, never
// through an untyped map: HashStage sets Work.Hashes (the asset manifest)
// and Work.LiveLogical (the live release's hashed → logical names), and
// ValidateStage reads them to compare sizes by logical path and sets
// Work.Report. A field is nil when the stage that sets it did not run.
//
// # What is saved
//
// Beside the record and the manifest, the commit saves exactly two store
// extras (releases.Store.PutExtra), chosen explicitly: "report" (the
// validation report, Work.Report) and "hashes" (Work.Hashes, read back by
// package carry and by LogicalNames), each only when its stage ran. A
// rejected release keeps its "report" (so the user can read why) and
// nothing else. Nothing else a stage computes is written. The extras are
// written just before the tree is moved into releases/ (a staged release
// never lacks them); if that move fails they stay beside the failed record.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/example/release-agent/hashassets"
	"github.com/example/release-agent/internal/carry"
	"github.com/example/release-agent/internal/gopanic"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

// Work is the state of one deploy, handed from stage to stage. The fields
// after Warnings carry what one stage computes for the next (see "Hand-off
// between stages" in the package documentation).
type Work struct {
	Store   *releases.Store
	ID      string // the id being staged
	Dir     string // the staging tree (absolute)
	Live    string // the live release id, "" if none
	LiveDir string // its tree, "" if none
	// LiveManifest is the live release's manifest (nil if none).
	LiveManifest *manifest.Manifest
	// Manifest describes the staged tree; a stage that changes files must
	// keep it true (see Rehash).
	Manifest *manifest.Manifest
	Record   releases.Record
	Warnings []string

	// Hashes is the asset manifest of the staged tree, set by HashStage
	// (nil if hashing did not run). Saved as the "hashes" extra.
	Hashes *hashassets.Manifest
	// LiveLogical maps the content-hashed names of the live release to
	// their logical paths. HashStage sets it when it reads the live
	// release's hashes; nil means not known yet (ValidateStage then reads
	// it with LogicalNames). Not saved.
	LiveLogical map[string]string
	// Report is the validation report, set by ValidateStage (nil if
	// validation did not run). Saved as the "report" extra, also when the
	// release is rejected.
	Report *validate.Report
}

// Logical maps the content-hashed names of the staged tree to their
// logical paths (nil if it was not hashed).
func (w *Work) Logical() map[string]string { return hashedToLogical(w.Hashes) }

// Stage is one step between extraction and commit.
type Stage interface {
	Name() string
	Run(ctx context.Context, w *Work) error
}

// RejectedError is returned (wrapping ErrRejected) when a stage refuses the
// release; Report is what to show the user.
type RejectedError struct {
	Stage  string
	Report *validate.Report
	Reason string
}

// ErrRejected is the sentinel of a refused release.
var ErrRejected = errors.New("rejected by validation")

func (e *RejectedError) Error() string {
	return fmt.Sprintf("rejected by %s: %s", e.Stage, e.Reason)
}
func (e *RejectedError) Unwrap() error { return ErrRejected }

// ErrPanic is wrapped (through *PanicError) by the error of a deploy
// during whose fetch or stages the program panicked: a bug, never the
// artifact's fault alone. The release is recorded as failed and its
// staging tree removed, as for any other failure.
var ErrPanic = errors.New("internal error")

// PanicError is a recovered panic: its value and the goroutine's stack
// where it happened (for the log; the message does not include it).
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("internal error: panic: %v", e.Value) }
func (e *PanicError) Unwrap() error { return ErrPanic }

// Request is one deploy.
type Request struct {
	Source   string
	SHA256   string        // expected sha256 of the artifact, optional
	Activate bool          // false: stage only
	Keep     int           // releases to keep after activation; 0 means releases.DefaultKeep
	KeepFor  time.Duration // also keep releases current within this long ([site] keep_for)
	Wait     time.Duration
	Limits   safewrite.Limits
	Stages   []Stage
	Who      releases.Who
	// Provenance of the build, as the caller gave it (checked by the
	// caller); fields it lacks are taken from the artifact's S3 metadata
	// (see ProvenanceFromMeta).
	Provenance *releases.Provenance
	// BeforeSwitch runs under the lock just before current moves (carry-over).
	BeforeSwitch releases.Hook
	// Progress, if set, is called when a stage starts and, while the
	// artifact is fetched, about five times a second.
	Progress func(Progress)
	// Sources opens Source strings with a scheme (s3://); nil: local
	// paths only.
	Sources ingest.Openers
	// Stream, if set, is the artifact itself (an archive whose format is
	// known by its first bytes, see ingest.OpenStream), sent by a caller
	// who read it with its own rights; Source is then only its label and
	// is never opened. StreamFrom is the caller's word for what the
	// stream was made from ("dir", "file", "stdin").
	Stream     io.Reader
	StreamFrom string
	// SourceFile, if set, is the local archive Source names, already
	// opened by the caller (see ingest.Options.File).
	SourceFile *os.File

	// DryRun stages, hashes and validates as a deploy does, then removes
	// the tree: no id is used and nothing is recorded (no record, no
	// journal line, no extra). Result.Changes compares the tree with the
	// live release.
	DryRun bool
	// Force makes a release even when the staged tree equals the live
	// release (see Result.AlreadyLive).
	Force bool
}

// Progress of a deploy. Files and Bytes are what was written into the
// staging tree; Read and Total are the artifact's bytes read so far and
// its size (Total is 0 when not known: a stream, an S3 prefix).
type Progress struct {
	Stage       string
	Files       int
	Bytes       int64
	Read, Total int64
}

// Result of a deploy.
type Result struct {
	Record    *releases.Record
	Activated bool
	Previous  string
	Pruned    []string
	Cleaned   []string
	// Report is the validation report, nil when validation did not run.
	// It is also set when the release was rejected (and is then the
	// RejectedError's Report).
	Report *validate.Report
	// Hashes is the asset manifest of the hash stage, nil when hashing
	// did not run (or the deploy failed before the commit).
	Hashes   *hashassets.Manifest
	Timings  []Timing
	Warnings []string

	// DryRun: the deploy was a dry run (Record is nil).
	DryRun bool
	// AlreadyLive is the live release's id when the staged tree's own
	// files equal the live release's (manifest.Diff finds no change):
	// without Force no release is made (Record is nil) and nothing is
	// recorded.
	AlreadyLive string
	// Changes, for a dry run, lists the staged tree's own files added,
	// removed and changed against the live release (all added if none).
	Changes []manifest.Change
}

// Timing of one stage.
type Timing struct {
	Stage    string
	Duration time.Duration
}

// Deploy runs req on s. See the package documentation for what is
// guaranteed on failure.
func Deploy(ctx context.Context, s *releases.Store, req Request) (*Result, error) {
	lk, cleaned, err := s.Lock(ctx, req.Wait, req.Who, "deploy "+req.Source)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	res := &Result{Cleaned: cleaned}
	rec, err := StageRelease(ctx, s, req, res)
	if err != nil || rec == nil { // failed, a dry run, or already live
		return res, err
	}
	res.Record = rec
	if !req.Activate {
		return res, nil
	}
	t := time.Now()
	if req.Progress != nil {
		req.Progress(Progress{Stage: "activate"})
	}
	from, err := s.Activate(rec.ID, releases.ActivateOptions{Who: req.Who, Reason: "deploy", Before: req.BeforeSwitch})
	if err != nil {
		return res, fmt.Errorf("%s is staged but was not activated: %w", rec.ID, err)
	}
	res.Activated, res.Previous = true, from
	res.Timings = append(res.Timings, Timing{"activate", time.Since(t)})
	if r, err := s.Record(rec.ID); err == nil {
		res.Record = r
	}
	keep := req.Keep
	if keep == 0 {
		keep = releases.DefaultKeep
	}
	t = time.Now()
	pruned, err := s.PruneWith(releases.PruneOptions{Keep: keep, OlderThan: req.KeepFor}, req.Who)
	res.Pruned = pruned
	if err != nil {
		res.Warnings = append(res.Warnings, "prune: "+err.Error())
	}
	res.Timings = append(res.Timings, Timing{"prune", time.Since(t)})
	return res, nil
}

// StageRelease builds a release without activating it. The caller must hold the
// store's lock; Deploy does this for you. res (may be nil) collects timings,
// warnings, the report and the hashes. It returns a nil record and no
// error for a dry run and for a tree equal to the live release (see
// Request.DryRun, Result.AlreadyLive).
//
// The tree is staged as a draft (releases.Store.NewDraft): its id is
// allocated when it is committed, or recorded as failed or rejected, so
// that a dry run or a no-op uses none. A panic in the fetch or a stage is
// a failure like any other (see PanicError).
func StageRelease(ctx context.Context, s *releases.Store, req Request, res *Result) (rec *releases.Record, err error) {
	if res == nil {
		res = &Result{}
	}
	progress := func(p Progress) {
		if req.Progress != nil {
			req.Progress(p)
		}
	}
	var src ingest.Source
	if req.Stream != nil {
		// A zip stream is spooled in the staging area (state/staging), on
		// the release's file system and cleaned like a staging tree.
		src, err = ingest.OpenStream(req.Source, req.Stream, ingest.StreamOptions{SHA256: req.SHA256, From: req.StreamFrom,
			SpoolDir: filepath.Join(s.StateDir(), "staging"), Limits: req.Limits})
	} else {
		src, err = req.Sources.Open(ctx, req.Source, ingest.Options{SHA256: req.SHA256, File: req.SourceFile, CacheDir: s.StateDir()})
	}
	if err != nil {
		return nil, err
	}
	w := &Work{Store: s}
	w.Record = releases.Record{Who: req.Who, Source: ingest.Info{Spec: req.Source}, Created: time.Now().UTC(),
		Provenance: req.Provenance.Normal()}
	if w.Live, err = s.Current(); err != nil {
		return nil, err
	}
	if w.Live != "" {
		switch err := s.CheckTree(w.Live); {
		case errors.Is(err, fs.ErrNotExist):
			// Deleted by hand: there is no live release to link from,
			// and the deploy replaces it.
			res.Warnings = append(res.Warnings, fmt.Sprintf("live release %s has no tree at %s (staging without hardlinks)", w.Live, s.Dir(w.Live)))
		case err != nil:
			// Not a tree the store made (a symlink): read nothing from it.
			res.Warnings = append(res.Warnings, fmt.Sprintf("live release %s: %v (staging without hardlinks)", w.Live, err))
		default:
			w.LiveDir = s.Dir(w.Live)
			if w.LiveManifest, err = s.Manifest(w.Live); err != nil {
				// Not fatal: dedup and comparisons just see no live release.
				res.Warnings = append(res.Warnings, fmt.Sprintf("live release %s: %v (staging without hardlinks)", w.Live, err))
				w.LiveDir, w.LiveManifest = "", nil
			}
		}
	}
	st, err := s.NewDraft()
	if err != nil {
		return nil, err
	}
	w.Dir = st.Dir
	fail := func(status releases.Status, err error) (*releases.Record, error) {
		// A cancelled or timed-out deploy says why (the cause), not only
		// "context deadline exceeded" from deep in a stage.
		if c := context.Cause(ctx); c != nil && !errors.Is(err, c) {
			err = fmt.Errorf("%v: %w", c, err)
		}
		if req.DryRun {
			if derr := st.Drop(); derr != nil {
				err = fmt.Errorf("%w (and cleaning up failed: %v)", err, derr)
			}
			return nil, fmt.Errorf("dry run: %w", err)
		}
		if derr := st.Discard(status, w.Record, err); derr != nil {
			err = fmt.Errorf("%w (and cleaning up failed: %v)", err, derr)
		}
		return nil, fmt.Errorf("%s: %w", st.ID, err)
	}
	// A panic in the fetch or a stage (a bug) fails this release like any
	// other error: recorded as failed, staging removed, the lock released
	// by the caller's defer; the process goes on.
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{Value: v, Stack: debug.Stack()}
			if gv, ok := v.(*gopanic.Value); ok { // from a worker goroutine of a stage
				pe.Value, pe.Stack = gv.V, gv.Stack
			}
			rec, err = fail(releases.StatusFailed, pe)
		}
	}()

	// Fetch.
	t := time.Now()
	progress(Progress{Stage: "fetch"})
	sw, err := safewrite.New(safewrite.Options{Dir: st.Dir, Limits: req.Limits, LiveDir: w.LiveDir, Live: w.LiveManifest})
	if err != nil {
		return fail(releases.StatusFailed, err)
	}
	stop := make(chan struct{})
	stopProgress := sync.OnceFunc(func() { close(stop) })
	defer stopProgress() // also on a panic in Fetch
	if req.Progress != nil {
		go func() {
			tk := time.NewTicker(200 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					ss := sw.Stats()
					p := Progress{Stage: "fetch", Files: int(ss.Files), Bytes: ss.Bytes}
					if pr, ok := src.(ingest.Progresser); ok {
						p.Read, p.Total = pr.Progress()
					}
					req.Progress(p)
				}
			}
		}()
	}
	info, err := src.Fetch(ctx, sw)
	stopProgress()
	w.Record.Source = info
	if info.Spec == "" {
		w.Record.Source.Spec = req.Source
	}
	if err != nil {
		sw.Close()
		return fail(releases.StatusFailed, err)
	}
	if w.Record.Provenance, err = MergeProvenance(req.Provenance, info.Meta); err != nil {
		sw.Close()
		return fail(releases.StatusFailed, fmt.Errorf("%s: %w", w.Record.Source.Spec, err))
	}
	if w.Manifest, err = sw.Close(); err != nil {
		return fail(releases.StatusFailed, err)
	}
	ss := sw.Stats()
	w.Record.LinkedFiles, w.Record.LinkedBytes = int(ss.LinkedFiles), ss.LinkedBytes
	res.Timings = append(res.Timings, Timing{"fetch", time.Since(t)})
	if err := context.Cause(ctx); err != nil {
		return fail(releases.StatusFailed, err)
	}

	for _, sg := range req.Stages {
		t := time.Now()
		progress(Progress{Stage: sg.Name()})
		err := sg.Run(ctx, w)
		res.Timings = append(res.Timings, Timing{sg.Name(), time.Since(t)})
		if err == nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			status := releases.StatusFailed
			err = fmt.Errorf("%s: %w", sg.Name(), err)
			if errors.Is(err, ErrRejected) {
				status = releases.StatusRejected
				res.Report = w.Report
				// The user reads why in the report: keep it.
				if w.Report != nil && !req.DryRun {
					if perr := st.Number(); perr != nil {
						err = fmt.Errorf("%w (and allocating its id failed: %v)", err, perr)
					} else if perr := s.PutExtra(st.ID, ReportExtra, w.Report); perr != nil {
						err = fmt.Errorf("%w (and saving its report failed: %v)", err, perr)
					}
				}
			}
			return fail(status, err)
		}
	}
	res.Warnings = append(res.Warnings, w.Warnings...)

	live := w.LiveManifest
	if live == nil {
		live = &manifest.Manifest{}
	}
	changes := manifest.Diff(live, w.Manifest)
	if w.LiveManifest != nil && len(changes) == 0 {
		res.AlreadyLive = w.Live
	}
	if req.Force && !req.DryRun {
		res.AlreadyLive = "" // a release is made anyway
	}
	if req.DryRun || res.AlreadyLive != "" {
		res.DryRun, res.Report, res.Hashes = req.DryRun, w.Report, w.Hashes
		if req.DryRun {
			res.Changes = changes
		}
		if err := st.Drop(); err != nil {
			return nil, fmt.Errorf("removing the staged tree: %w", err)
		}
		return nil, nil
	}

	t = time.Now()
	progress(Progress{Stage: "commit"})
	if err := st.Number(); err != nil {
		return fail(releases.StatusFailed, err)
	}
	w.ID = st.ID
	if err := saveExtras(s, st.ID, w); err != nil {
		return fail(releases.StatusFailed, err)
	}
	res.Report, res.Hashes = w.Report, w.Hashes
	if err := st.Commit(w.Record, w.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", st.ID, err)
	}
	res.Timings = append(res.Timings, Timing{"commit", time.Since(t)})
	return s.Record(st.ID)
}

// Kinds of the store extras a deploy saves (releases.Store.PutExtra).
const (
	ReportExtra = "report"          // *validate.Report
	HashesExtra = carry.HashesExtra // *hashassets.Manifest
)

// saveExtras writes the extras of a release that is being committed: the
// report and the hashes, each if its stage ran. Nothing else of w is saved.
func saveExtras(s *releases.Store, id string, w *Work) error {
	if w.Report != nil {
		if err := s.PutExtra(id, ReportExtra, w.Report); err != nil {
			return err
		}
	}
	if w.Hashes != nil {
		if err := s.PutExtra(id, HashesExtra, w.Hashes); err != nil {
			return err
		}
	}
	return nil
}

// Rehash brings the manifest of w up to date for the given paths (relative,
// slash-separated) after a stage rewrote or added them, and hardlinks any
// of them whose new content equals a live file.
func (w *Work) Rehash(paths []string) error {
	// Implemented in rehash.go.
	return w.rehash(paths)
}

// Update records in the manifest of w the entries es (by path) of files a
// stage wrote and knows the digests of, without reading them.
func (w *Work) Update(es []manifest.Entry) {
	// Implemented in rehash.go.
	w.update(es)
}

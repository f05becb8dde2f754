package deploy

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/example/release-agent/hashassets"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

// ValidateStage checks the staged tree against the live release (links,
// assets, fragments, required files, size budgets and regressions) and
// rejects the release when the report says so. The report is stored with
// the release record either way.
type ValidateStage struct {
	Options validate.Options
}

// Name implements Stage.
func (ValidateStage) Name() string { return "validate" }

// Run implements Stage.
func (v ValidateStage) Run(ctx context.Context, w *Work) error {
	opts := v.Options
	opts.Manifest = w.Manifest
	var live fs.FS
	if w.LiveDir != "" {
		live = os.DirFS(w.LiveDir)
		opts.LiveManifest = w.LiveManifest
	}
	if m, ok := w.Extras[logicalKey].(map[string]string); ok {
		opts.Logical = m
	}
	if m, ok := w.Extras[liveLogicalKey].(map[string]string); ok {
		opts.LiveLogical = m
	} else if w.Live != "" {
		opts.LiveLogical = LogicalNames(w.Store, w.Live)
	}
	delete(w.Extras, logicalKey)
	delete(w.Extras, liveLogicalKey)
	rep, err := validate.Check(ctx, os.DirFS(w.Dir), live, opts)
	if err != nil {
		return err
	}
	w.Extras["report"] = rep
	w.Record.Validated = true
	if rep.Rejected() {
		return &RejectedError{Stage: "validate", Report: rep, Reason: summary(rep)}
	}
	return nil
}

// LogicalNames returns the hashed -> logical name map of release id (nil
// if it was not hashed), for comparing sizes by logical path.
func LogicalNames(s *releases.Store, id string) map[string]string {
	var m hashassets.Manifest
	if err := s.Extra(id, "hashes", &m); err != nil {
		return nil
	}
	out := make(map[string]string, len(m.Assets))
	for _, a := range m.Assets {
		out[a.Hashed] = a.Logical
	}
	return out
}

// Keys of Work.Extras that carry hashed→logical name maps from the hash
// stage to the validate stage (not stored).
const (
	logicalKey     = "_logical"
	liveLogicalKey = "_live_logical"
)

func summary(rep *validate.Report) string {
	return fmt.Sprintf("%d blocking findings in %d pages", rep.Blocking, rep.Pages)
}

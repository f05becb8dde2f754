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
// rejects the release when the report says so. It reads Work.Hashes and
// Work.LiveLogical (set by HashStage, if it ran before) to compare sizes by
// logical path, and sets Work.Report, which is stored with the release
// record either way.
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
	opts.Logical = w.Logical()
	opts.LiveLogical = w.LiveLogical
	if opts.LiveLogical == nil && w.Live != "" {
		opts.LiveLogical = LogicalNames(w.Store, w.Live)
	}
	rep, err := validate.Check(ctx, os.DirFS(w.Dir), live, opts)
	if err != nil {
		return err
	}
	w.Report = rep
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
	if err := s.Extra(id, HashesExtra, &m); err != nil {
		return nil
	}
	return hashedToLogical(&m)
}

// hashedToLogical returns the hashed -> logical name map of m (nil if m
// is nil).
func hashedToLogical(m *hashassets.Manifest) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m.Assets))
	for _, a := range m.Assets {
		out[a.Hashed] = a.Logical
	}
	return out
}

func summary(rep *validate.Report) string {
	return fmt.Sprintf("%d blocking findings in %d pages", rep.Blocking, rep.Pages)
}

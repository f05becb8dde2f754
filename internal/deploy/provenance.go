package deploy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/example/release-agent/releases"
)

// S3 user metadata read as provenance (keys as package s3 puts them in
// ingest.Info.Meta: lower case, with the x-amz-meta- prefix). For a
// prefix source these are the completion marker's; for an object, its
// own.
const (
	MetaPrefix    = "x-amz-meta-"
	MetaCommit    = MetaPrefix + "git-sha" // preferred
	MetaCommitAlt = MetaPrefix + "commit"
	MetaMessage   = MetaPrefix + "message"
	metaChecksum  = MetaPrefix + "sha256" // the artifact's checksum, not a label
)

// ProvenanceFromMeta returns the provenance in an artifact's metadata:
// the commit from x-amz-meta-git-sha (or x-amz-meta-commit), the message
// from x-amz-meta-message, and every other x-amz-meta-KEY whose KEY is a
// valid label key (releases.CheckMeta) as a label; x-amz-meta-sha256 (a
// checksum) and keys that are no valid label key are left out (they stay
// in the source's metadata). The values are not checked: see
// MergeProvenance. nil when there is nothing.
func ProvenanceFromMeta(meta map[string]string) *releases.Provenance {
	var p releases.Provenance
	for k, v := range meta {
		name, ok := strings.CutPrefix(k, MetaPrefix)
		switch {
		case !ok || k == metaChecksum:
		case k == MetaCommit:
			p.Commit = v
		case k == MetaCommitAlt:
			if meta[MetaCommit] == "" {
				p.Commit = v
			}
		case k == MetaMessage:
			p.Message = v
		case releases.CheckMeta(name, "") == nil:
			if p.Meta == nil {
				p.Meta = map[string]string{}
			}
			p.Meta[name] = v
		}
	}
	if p.IsZero() {
		return nil
	}
	return &p
}

// MergeProvenance returns the provenance of a release: req (what the
// caller gave, already checked) over ProvenanceFromMeta(meta), field by
// field and label by label. A value taken from the metadata that is not
// valid (releases.Provenance.Check) is an error naming its metadata key:
// a pipeline that attaches a bad commit id learns it at once.
func MergeProvenance(req *releases.Provenance, meta map[string]string) (*releases.Provenance, error) {
	p := req.Over(ProvenanceFromMeta(meta))
	err := p.Check()
	var pe *releases.ProvenanceError
	if err == nil || !errors.As(err, &pe) {
		return p, err
	}
	key := MetaPrefix + pe.Field
	switch {
	case pe.Field == "commit" && meta[MetaCommit] != "":
		key = MetaCommit
	case pe.Field == "commit":
		key = MetaCommitAlt
	case pe.Field == "meta key" || pe.Field == "meta":
		key = MetaPrefix + "*"
	case strings.HasPrefix(pe.Field, "meta "):
		key = MetaPrefix + strings.TrimPrefix(pe.Field, "meta ")
	}
	return nil, fmt.Errorf("S3 metadata %s %q: %s", key, pe.Value, pe.Why)
}

// Package ingest opens the artifact a release is made from, named by a
// SOURCE string as in the releasectl contract: a directory, a .tar,
// .tar.gz/.tgz, .tar.zst or .zip file, or s3://bucket/key and
// s3://bucket/prefix/.
//
// Local paths are opened here (OpenLocal). A SOURCE with a scheme
// ("s3://...") goes to the Opener the caller provides for that scheme in
// an Openers value; there is no global registry. Package ingest/s3 makes
// the "s3" opener from an explicit configuration (s3.Client.Open, or
// s3.OpenFromEnv for releasectl run by hand), so the caller decides which
// client and credentials a deploy uses.
//
// A Source streams its entries into a safewrite.Sink; it never writes to disk
// itself. Fetch either delivers every entry or returns an error; the caller
// discards the staging directory on error.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/example/release-agent/internal/ingest/safewrite"
)

// Info describes the artifact that was fetched. It goes into the journal and
// the release record.
type Info struct {
	Spec   string            `json:"spec"`             // as given by the user, credentials never included
	Kind   string            `json:"kind"`             // "dir", "tar", "tar.gz", "tar.zst", "zip", "s3-object", "s3-prefix"
	SHA256 string            `json:"sha256,omitempty"` // of the artifact file/object, when there is one
	Size   int64             `json:"size,omitempty"`   // bytes read from the source
	Meta   map[string]string `json:"meta,omitempty"`   // e.g. etag, version_id, x-amz-meta-git-sha
}

// Source is one artifact.
type Source interface {
	// Fetch streams the artifact into sink. It is called once.
	Fetch(ctx context.Context, sink safewrite.Sink) (Info, error)
}

// Progresser is implemented by a Source that can say, while Fetch runs,
// how many bytes of the artifact it has read and how many there are (0
// when not known, as for a stream). Safe to call concurrently with Fetch.
type Progresser interface {
	Progress() (read, total int64)
}

// Options for Open.
type Options struct {
	// SHA256, if set, is the expected sha256 (hex) of the artifact file or
	// object; a mismatch fails with ErrChecksum before the release is
	// staged. For a local file, a FILE.sha256 next to it is also honoured.
	SHA256 string
	// File, if set, is the local archive already opened by the caller
	// (the daemon's inbox opens it with O_NOFOLLOW and checks it is a
	// regular file): it is read instead of opening the path again, which
	// then only names its format, its FILE.sha256 and the record. The
	// caller closes it.
	File *os.File
}

// ErrChecksum is returned (wrapped) when the artifact does not match the
// expected sha256.
var ErrChecksum = errors.New("artifact checksum mismatch")

// ErrNotFound is returned (wrapped) when the artifact does not exist.
var ErrNotFound = errors.New("artifact not found")

// Opener opens a SOURCE string of one scheme ("s3://bucket/key").
type Opener func(ctx context.Context, spec string, opts Options) (Source, error)

// Openers maps a scheme ("s3") to its Opener. The zero value opens local
// paths only.
type Openers map[string]Opener

// Open returns the Source for spec: "scheme://..." goes to the opener of
// that scheme, anything else is a local path (see OpenLocal).
func (o Openers) Open(ctx context.Context, spec string, opts Options) (Source, error) {
	if i := strings.Index(spec, "://"); i > 0 {
		scheme := spec[:i]
		op := o[scheme]
		if op == nil {
			return nil, fmt.Errorf("source %q: unsupported scheme %q (supported: local paths%s)", spec, scheme, o.schemes())
		}
		return op(ctx, spec, opts)
	}
	return OpenLocal(ctx, spec, opts)
}

func (o Openers) schemes() string {
	var s string
	for _, k := range slices.Sorted(maps.Keys(o)) {
		if o[k] != nil {
			s += ", " + k + "://"
		}
	}
	return s
}

// Open opens spec with no scheme openers: Openers(nil).Open, local paths
// only.
func Open(ctx context.Context, spec string, opts Options) (Source, error) {
	return Openers(nil).Open(ctx, spec, opts)
}

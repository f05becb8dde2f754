// Package safewrite writes an artifact's entries into a staging directory,
// safely: every path goes through an os.Root confined to the staging
// directory, limits guard against archive bombs, and a file whose content
// (sha256) already exists in the live release is hardlinked from it instead
// of being written again.
//
// The archive readers (package archive) and the S3 prefix source call a
// Sink; the pipeline creates the Writer, hands it to the source, and on
// success takes the Manifest from Close.
package safewrite

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strconv"
)

// Sink receives the entries of one artifact. Names are the artifact's own
// entry names, slash-separated; the Sink validates them (the caller need
// not) and names the entry in every error it returns.
//
// File is safe to call concurrently from several goroutines (the S3 prefix
// source downloads in parallel); the other methods are too.
type Sink interface {
	// Dir creates a directory (and missing parents).
	Dir(name string, mode fs.FileMode) error
	// File writes a regular file from r. size is the declared size, or -1
	// if unknown; a mismatch between declared and actual size is an error.
	// If wantSHA256 is not empty the content must hash to it.
	File(ctx context.Context, name string, mode fs.FileMode, size int64, wantSHA256 string, r io.Reader) error
	// Symlink creates a symlink at name pointing to target. The target
	// must stay inside the tree (resolved relative to name's directory).
	Symlink(name, target string) error
	// Hardlink makes name another name of target, an earlier regular file
	// entry of the same artifact.
	Hardlink(name, target string) error
	// Existing links name to a file of the live release with this sha256
	// and reports true, or reports false (and does nothing) if the live
	// release has no such file. The S3 prefix source uses it to skip
	// downloading unchanged objects.
	Existing(name string, mode fs.FileMode, sha256 string) (bool, error)
}

// Limits bound what one artifact may write. Zero means the default.
type Limits struct {
	MaxBytes   int64 // total bytes of regular files (default 4 GiB)
	MaxFiles   int   // number of entries of any kind (default 200,000)
	MaxPathLen int   // bytes in one entry name (default 1,024)
}

// Defaults for Limits.
const (
	DefaultMaxBytes   = 4 << 30
	DefaultMaxFiles   = 200_000
	DefaultMaxPathLen = 1024
)

// Sentinel errors, wrapped in an *EntryError naming the entry.
var (
	ErrUnsafePath   = errors.New("unsafe path")                // absolute, "..", NUL, invalid UTF-8, too long
	ErrEscapes      = errors.New("link leaves the tree")       // symlink/hardlink target outside
	ErrUnsupported  = errors.New("unsupported entry type")     // device, fifo, socket
	ErrDuplicate    = errors.New("duplicate entry")            // the same path twice
	ErrLimit        = errors.New("limit exceeded")             // bytes, files, path length
	ErrChecksum     = errors.New("checksum mismatch")          // content does not match a given sha256
	ErrSizeMismatch = errors.New("size does not match header") // truncated or lying header
)

// EntryError is the error for one entry of the artifact.
type EntryError struct {
	Entry string // the entry's name as written in the artifact (quoted with %q when printed)
	Err   error
}

func (e *EntryError) Error() string { return "entry " + strconv.Quote(e.Entry) + ": " + e.Err.Error() }
func (e *EntryError) Unwrap() error { return e.Err }

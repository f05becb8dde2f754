package hashassets

import (
	"io/fs"
	"slices"
	"strings"

	"github.com/example/release-agent/manifest"
)

// Asset is one hashed file of a release (see manifest.Asset).
type Asset = manifest.Asset

// Manifest lists the hashed assets of a release, sorted by Logical. It is
// a plain value, JSON-friendly; any number of goroutines may read one that
// nobody modifies.
type Manifest struct {
	Assets []Asset `json:"assets"`
	// changed lists the files Hash created or replaced (see Changed).
	changed []File
}

// File is a file that Hash created or replaced, with the digest of the
// bytes it now holds.
type File struct {
	Path   string
	SHA256 [32]byte
	Size   int64
	// Mode is the file's permission bits.
	Mode fs.FileMode
}

// Changed returns, sorted, every path whose bytes Hash wrote or whose
// directory entry it created or replaced: the new hashed names, the
// originals it replaced by a link to rewritten content, and the rewritten
// pages. Everything else in the tree is untouched, so a caller that keeps
// a manifest of the tree re-hashes only these.
func (m *Manifest) Changed() []string {
	out := make([]string, len(m.changed))
	for i, f := range m.changed {
		out[i] = f.Path
	}
	return out
}

// ChangedFiles returns the files of Changed with the digests of their
// bytes, so that a caller that keeps a manifest of the tree need not read
// them again. Files that Options.Reuse provided are included.
func (m *Manifest) ChangedFiles() []File { return slices.Clone(m.changed) }

// Lookup returns the asset whose logical path is p, or nil.
func (m *Manifest) Lookup(p string) *Asset {
	i, ok := slices.BinarySearchFunc(m.Assets, p, func(a Asset, p string) int { return strings.Compare(a.Logical, p) })
	if !ok {
		return nil
	}
	return &m.Assets[i]
}

// Map returns logical path -> hashed path.
func (m *Manifest) Map() map[string]string {
	out := make(map[string]string, len(m.Assets))
	for _, a := range m.Assets {
		out[a.Logical] = a.Hashed
	}
	return out
}

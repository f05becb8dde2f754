// Package manifest describes the files of one release: path, size, mode
// and sha256 of every regular file, and the target of every symlink.
//
// A Manifest is the shared currency of the pipeline: the stage package
// produces it while extracting, the releases store keeps it in the release
// record and uses it to hardlink unchanged files of the next release,
// hashassets and validate read it (logical paths, sizes) and the CLI diffs
// two of them.
//
// A Manifest is a plain value: it is not safe for concurrent mutation, but
// any number of goroutines may read one that nobody modifies.
//
// Computing one by reading and hashing files is FromFS (a whole tree) and
// HashFile (one file); producers that already know the digests (the safe
// writer, while extracting) build the Manifest themselves.
package manifest

import (
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Entry is one file of a release.
type Entry struct {
	// Path is slash-separated and relative to the release root, never
	// starting with "/" or containing "." or ".." elements.
	Path string `json:"path"`
	// Size in bytes of a regular file (0 for a symlink).
	Size int64 `json:"size"`
	// SHA256 is the lowercase hex sha256 of a regular file's content
	// (empty for a symlink).
	SHA256 string `json:"sha256,omitempty"`
	// Mode holds the permission bits as stored in the release: 0o444, or
	// 0o555 for a file that had an execute bit in the artifact.
	Mode fs.FileMode `json:"mode"`
	// Link is the target of a symlink (relative, inside the release).
	Link string `json:"link,omitempty"`
	// Carried marks a hashed asset carried over from an earlier release
	// (see hashassets): present on disk, not one of the release's own files.
	Carried bool `json:"carried,omitempty"`
}

// IsSymlink reports whether e describes a symlink.
func (e *Entry) IsSymlink() bool { return e.Link != "" }

// Manifest lists the files of a release, sorted by Path.
type Manifest struct {
	Entries []Entry `json:"files"`
}

// Sort orders the entries by path. Producers call it once when done.
func (m *Manifest) Sort() {
	slices.SortFunc(m.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
}

// Lookup returns the entry for p, or nil. m must be sorted.
func (m *Manifest) Lookup(p string) *Entry {
	i, ok := slices.BinarySearchFunc(m.Entries, p, func(e Entry, p string) int { return strings.Compare(e.Path, p) })
	if !ok {
		return nil
	}
	return &m.Entries[i]
}

// BySHA256 indexes the regular files of m by content hash (first path wins).
func (m *Manifest) BySHA256() map[string]*Entry {
	idx := make(map[string]*Entry, len(m.Entries))
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.SHA256 == "" {
			continue
		}
		if _, ok := idx[e.SHA256]; !ok {
			idx[e.SHA256] = e
		}
	}
	return idx
}

// Totals returns the number of own (not carried) regular files and their
// total size in bytes.
func (m *Manifest) Totals() (files int, bytes int64) {
	for _, e := range m.Entries {
		if e.IsSymlink() || e.Carried {
			continue
		}
		files++
		bytes += e.Size
	}
	return files, bytes
}

// Change is one difference between two manifests.
type Change struct {
	Path   string `json:"path"`
	Op     string `json:"op"` // "added", "removed" or "changed"
	Before int64  `json:"before"`
	After  int64  `json:"after"`
}

// Diff lists what changed from a to b (own files only), sorted by path.
func Diff(a, b *Manifest) []Change {
	var out []Change
	i, j := 0, 0
	own := func(es []Entry) []Entry {
		r := make([]Entry, 0, len(es))
		for _, e := range es {
			if !e.Carried {
				r = append(r, e)
			}
		}
		return r
	}
	ae, be := own(a.Entries), own(b.Entries)
	for i < len(ae) || j < len(be) {
		switch {
		case j >= len(be) || (i < len(ae) && ae[i].Path < be[j].Path):
			out = append(out, Change{Path: ae[i].Path, Op: "removed", Before: ae[i].Size})
			i++
		case i >= len(ae) || be[j].Path < ae[i].Path:
			out = append(out, Change{Path: be[j].Path, Op: "added", After: be[j].Size})
			j++
		default:
			if ae[i].SHA256 != be[j].SHA256 || ae[i].Link != be[j].Link || ae[i].Mode != be[j].Mode {
				out = append(out, Change{Path: ae[i].Path, Op: "changed", Before: ae[i].Size, After: be[j].Size})
			}
			i++
			j++
		}
	}
	return out
}

// NormalMode maps any file mode to the mode a release stores: read-only for
// everyone, executable for everyone if any execute bit was set.
func NormalMode(m fs.FileMode) fs.FileMode {
	if m&0o111 != 0 {
		return 0o555
	}
	return 0o444
}

// ValidPath reports whether p is a clean, relative, slash-separated path
// that stays inside a tree ("a/b.html", not "/a", "../a", "a/./b", "").
func ValidPath(p string) bool {
	return p != "" && p != "." && fs.ValidPath(p) && path.Clean(p) == p
}

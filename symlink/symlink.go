// Package symlink replaces a symlink atomically and durably.
//
// # Atomicity
//
// Replace makes the new link under a temporary name in the same directory
// and rename(2)s it over the old one. rename replaces the directory entry in
// one step: every process that resolves the path at any instant sees either
// the old target or the new one, never a missing link and never a mix.
//
// # Durability
//
// Atomicity is not durability: after rename returns, the change may still
// be only in the page cache, and a power loss could bring back the old link.
// Replace therefore fsyncs the directory after the rename; when Replace
// returns nil the new link survives a crash. Filesystems that cannot fsync a
// directory (EINVAL, ENOTSUP) are tolerated, as restic's local backend does.
//
// # Concurrency
//
// Replace is safe to call concurrently on the same path (each call uses its
// own temporary name; the last rename wins), but callers that need "the
// link I read is the one I replace" semantics must hold their own lock;
// package releases does.
package symlink

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrNotSymlink is returned (wrapped in a *NotSymlinkError) when the path
// to replace exists and is not a symlink.
var ErrNotSymlink = errors.New("not a symlink")

// NotSymlinkError says that Path is a real file or directory.
type NotSymlinkError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotSymlinkError) Error() string {
	kind := "a regular file"
	if e.Mode.IsDir() {
		kind = "a directory"
	}
	return fmt.Sprintf("%s is %s, not a symlink: refusing to replace it", e.Path, kind)
}

func (e *NotSymlinkError) Unwrap() error { return ErrNotSymlink }

// TempPrefix starts the names of temporary links made by Replace. Leftovers
// (a process killed between symlink and rename) carry it and may be removed
// by anyone holding the caller's lock.
const TempPrefix = ".tmp-link-"

// Replace points the symlink at path to target, atomically and durably (see
// the package documentation). If path does not exist it is created. If path
// is anything but a symlink, Replace changes nothing and returns a
// *NotSymlinkError. On error the temporary link is removed.
func Replace(path, target string) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return &NotSymlinkError{Path: path, Mode: fi.Mode()}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	// The name only has to be unused: symlink(2) fails rather than follow
	// or replace an existing entry. math/rand/v2's generator is seeded
	// from the kernel per process (crypto/rand would link, and initialise,
	// the FIPS module for nothing).
	tmp := filepath.Join(dir, TempPrefix+filepath.Base(path)+"."+strconv.FormatUint(rand.Uint64(), 16))
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		// Between Lstat and Rename someone made path a directory: rename
		// of a symlink over a directory fails with EISDIR/ENOTDIR/EEXIST.
		return err
	}
	return SyncDir(dir)
}

// IsTemp reports whether name (a base name) is a leftover temporary link.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// SyncDir fsyncs a directory so that renames and new entries in it are
// durable. EINVAL and ENOTSUP (filesystems without directory fsync) are
// not errors.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// Package symlink replaces a symlink atomically and durably, refusing to
// replace anything but a symlink. It is what switches a site's current
// link; the replacement itself is internal/fsatomic's.
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
// # Temporary names
//
// The temporary link is named "." + NAME + ".tmp-" + 16 hex digits. One
// left by a process killed between the symlink and the rename is removed by
// whoever owns the directory once no writer can be active in it (package
// releases does, under its lock, in recovery).
//
// # Cost
//
// A Replace is six system calls: lstat, symlink, rename, and open, fsync,
// close of the directory. The temporary name's random part comes from
// math/rand/v2, not crypto/rand, which would add a system call and the
// start-up of the FIPS module to every switch.
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
	"os"

	"github.com/example/release-agent/internal/fsatomic"
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

// Replace points the symlink at path to target, atomically and durably (see
// the package documentation). If path does not exist it is created. If path
// is anything but a symlink, Replace changes nothing and returns a
// *NotSymlinkError. On error no temporary link is left.
func Replace(path, target string) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return &NotSymlinkError{Path: path, Mode: fi.Mode()}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Between Lstat and the rename someone may make path a directory:
	// rename of a symlink over a directory fails (EISDIR).
	return fsatomic.Symlink(target, path)
}

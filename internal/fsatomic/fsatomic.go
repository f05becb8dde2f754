// Package fsatomic replaces files, symlinks and hard links atomically, and
// durably unless asked not to. It is the one implementation of "write under
// a temporary name, then rename(2) over the real one" in this module: the
// release store, package symlink, the hashing stage and the staging writer
// all use it, so there is one naming scheme for temporary files and one
// rule for removing the ones a killed process left behind.
//
// # Atomicity
//
// Every replacement creates the new file, link or symlink under a
// temporary name (see TempName) in the directory of the name it replaces,
// then rename(2)s it over that name. rename replaces the directory entry in
// one step: a process that opens or resolves the name at any instant finds
// either the old version or the complete new one, never a missing name,
// never a partly written file. The rename is the only atomic step; nothing
// before it is visible under the real name.
//
// # Durability
//
// Atomicity is not durability: after rename returns, the new entry and the
// file's data may exist only in the page cache, and a power loss could
// bring back the old version, or (without the file's fsync) a new name
// pointing at empty or partial data. By default every replacement is
// therefore also durable, in this order:
//
//  1. the new file's data and mode are fsynced before the rename (files
//     only: a symlink or hard link has no data of its own to sync);
//  2. after the rename, the directory holding the name is fsynced.
//
// When a call returns nil the new version survives a crash of the machine.
// Filesystems that cannot fsync a directory (EINVAL, ENOTSUP) are tolerated
// as restic's local backend does: on them the rename is as durable as the
// filesystem makes it. A Replacer with NoSync skips both fsyncs: the
// replacement is still atomic, but durable only once the caller syncs the
// filesystem (one syncfs(2) for a whole staged tree is far cheaper than an
// fsync per file) or for data the caller can rebuild.
//
// # Temporary names
//
// A temporary name is "." + NAME + ".tmp-" + 16 lowercase hex digits, in
// the directory of NAME (NAME shortened if needed to keep the whole name
// within 255 bytes). IsTemp recognises exactly these names and RemoveTemps
// removes them; a name of that form is reserved for this package. A call
// that fails removes its temporary name; only a process killed (or a
// machine that went down) between the creation and the rename leaves one.
//
// The random part comes from math/rand/v2, seeded per process by the
// runtime: names only need to be unused (creation fails rather than reuse
// an existing entry, and is retried with another name), not unpredictable,
// and crypto/rand would cost the switch of a symlink a system call and the
// start-up of the FIPS module.
//
// # Concurrency
//
// Every function and method may be called concurrently, also on the same
// name: each call uses its own temporary name, readers see one complete
// version or another, and the last rename wins. Callers that need "the
// version I read is the one I replace" must hold their own lock (the
// release store does). A PendingFile belongs to one goroutine at a time.
// RemoveTemps must not run while a replacement in the same directory may
// be in flight: it would remove that call's temporary name, and the call
// would fail (the old version stays).
package fsatomic

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Replacer makes replacements with the given options. The zero Replacer
// works on ordinary paths and makes every replacement durable; the
// package-level functions use it.
type Replacer struct {
	// Root, if not nil, confines every name to the tree of Root: names are
	// relative to it and resolved as os.Root resolves them, so no symlink
	// or ".." leads outside it, and temporary names are made in the same
	// directory of that tree.
	Root *os.Root
	// NoSync skips the fsyncs (see "Durability"): the replacement is
	// atomic but not durable.
	NoSync bool
}

// maxTries bounds the attempts to find an unused temporary name: a
// collision of 64 random bits means someone else makes such names.
const maxTries = 100

// WriteFile replaces the file path by one holding data with permission
// bits perm (exactly: the umask does not apply), atomically and durably.
// On error the old file, if any, is unchanged and no temporary file is left.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Replacer{}.WriteFile(path, data, perm)
}

// Create starts a durable replacement of path (see Replacer.Create).
func Create(path string, perm fs.FileMode) (*PendingFile, error) {
	return Replacer{}.Create(path, perm)
}

// Symlink replaces path by a symlink to target, atomically and durably
// (see Replacer.Symlink).
func Symlink(target, path string) error {
	return Replacer{}.Symlink(target, path)
}

// Link replaces newpath by a hard link to oldpath, atomically and durably
// (see Replacer.Link).
func Link(oldpath, newpath string) error {
	return Replacer{}.Link(oldpath, newpath)
}

// WriteFile replaces the file name by one holding data with permission
// bits perm (exactly: the umask does not apply): write to a temporary
// file, fsync it, rename it over name, fsync the directory (without the
// fsyncs if r.NoSync). On error the old file, if any, is unchanged and no
// temporary file is left.
func (r Replacer) WriteFile(name string, data []byte, perm fs.FileMode) error {
	p, err := r.Create(name, perm)
	if err != nil {
		return err
	}
	defer p.Cleanup()
	if _, err := p.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return p.CloseAtomicallyReplace()
}

// PendingFile is the new version of a file being written under a temporary
// name, made by Create. Write to it, then call CloseAtomicallyReplace to put
// it in place; defer Cleanup to remove it on every other path. Do not call
// Close.
type PendingFile struct {
	*os.File
	r      Replacer
	name   string // the name it replaces
	tmp    string
	perm   fs.FileMode
	closed bool // File is closed
	done   bool // renamed into place, or cleaned up
}

// Create creates a temporary file (mode 0600 until it is put in place) in
// the directory of name, to replace name when CloseAtomicallyReplace is
// called. The directory must exist.
func (r Replacer) Create(name string, perm fs.FileMode) (*PendingFile, error) {
	dir, base := filepath.Dir(name), filepath.Base(name)
	for range maxTries {
		tmp := filepath.Join(dir, TempName(base))
		f, err := r.openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &PendingFile{File: f, r: r, name: name, tmp: tmp, perm: perm}, nil
	}
	return nil, &fs.PathError{Op: "create temporary file for", Path: name, Err: fs.ErrExist}
}

// CloseAtomicallyReplace gives the file its permission bits, fsyncs it,
// closes it and renames it over the name it replaces, then fsyncs the
// directory (without the fsyncs if the Replacer has NoSync). When it
// returns nil the new version is in place, and durable unless NoSync. If
// it fails before the rename, the old version is unchanged; if only the
// fsync of the directory failed, the new version is in place but its
// durability is unknown.
func (p *PendingFile) CloseAtomicallyReplace() error {
	if p.done || p.closed {
		return &fs.PathError{Op: "replace", Path: p.name, Err: fs.ErrClosed}
	}
	if err := p.Chmod(p.perm); err != nil {
		return err
	}
	if !p.r.NoSync {
		if err := p.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", p.name, err)
		}
	}
	p.closed = true
	if err := p.File.Close(); err != nil {
		return err
	}
	if err := p.r.rename(p.tmp, p.name); err != nil {
		return err
	}
	p.done = true
	if p.r.NoSync {
		return nil
	}
	return p.r.syncDir(filepath.Dir(p.name))
}

// Cleanup is a no-op if CloseAtomicallyReplace succeeded (or got as far as
// the rename), and otherwise closes and removes the temporary file, leaving
// the old version in place. It may be called more than once.
func (p *PendingFile) Cleanup() error {
	if p.done {
		return nil
	}
	p.done = true
	if !p.closed {
		p.closed = true
		p.File.Close()
	}
	if err := p.r.remove(p.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Symlink replaces name, whatever it is (except a directory: rename(2)
// fails), by a symlink to target: make the link under a temporary name,
// rename it over name, fsync the directory (unless r.NoSync). It does
// nothing else: package symlink adds the check that name is a symlink.
func (r Replacer) Symlink(target, name string) error {
	dir, base := filepath.Dir(name), filepath.Base(name)
	for range maxTries {
		tmp := filepath.Join(dir, TempName(base))
		err := r.symlink(target, tmp)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := r.rename(tmp, name); err != nil {
			r.remove(tmp)
			return err
		}
		if r.NoSync {
			return nil
		}
		return r.syncDir(dir)
	}
	return &os.LinkError{Op: "symlink", Old: target, New: name, Err: fs.ErrExist}
}

// Link replaces newname by a hard link to the file oldname: link it under a
// temporary name, rename that over newname, fsync newname's directory
// (unless r.NoSync; the file's data is not synced, it is not new). With a
// Root, both names are in its tree. If newname already is a link of the
// same file, it is left as it is.
func (r Replacer) Link(oldname, newname string) error {
	dir, base := filepath.Dir(newname), filepath.Base(newname)
	for range maxTries {
		tmp := filepath.Join(dir, TempName(base))
		err := r.link(oldname, tmp)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := r.rename(tmp, newname); err != nil {
			r.remove(tmp)
			return err
		}
		// rename(2) of a name over another link of the same file
		// succeeds and does nothing: tmp is then still there.
		if err := r.remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if r.NoSync {
			return nil
		}
		return r.syncDir(dir)
	}
	return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrExist}
}

// The file system calls, on paths or in r.Root.

func (r Replacer) openFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	if r.Root != nil {
		return r.Root.OpenFile(name, flag, perm)
	}
	return os.OpenFile(name, flag, perm)
}

func (r Replacer) rename(oldname, newname string) error {
	if r.Root != nil {
		return r.Root.Rename(oldname, newname)
	}
	// Not os.Rename, which first lstats newname to refuse a directory
	// there: rename(2) of a file, link or symlink over a directory fails
	// anyway (EISDIR), and this is on the path of every switch.
	_, err := ignoringEINTR(func() (int, error) { return 0, syscall.Rename(oldname, newname) })
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (r Replacer) remove(name string) error {
	if r.Root != nil {
		return r.Root.Remove(name)
	}
	return os.Remove(name)
}

func (r Replacer) symlink(target, name string) error {
	if r.Root != nil {
		return r.Root.Symlink(target, name)
	}
	return os.Symlink(target, name)
}

func (r Replacer) link(oldname, newname string) error {
	if r.Root != nil {
		return r.Root.Link(oldname, newname)
	}
	return os.Link(oldname, newname)
}

func (r Replacer) syncDir(dir string) error {
	if r.Root == nil {
		return SyncDir(dir)
	}
	d, err := r.Root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return tolerate(d.Sync())
}

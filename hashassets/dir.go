package hashassets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
)

// HashDir hashes the staged tree rooted at dir in place. Every path goes
// through an os.Root opened on dir, so nothing outside dir is read or
// written even if the tree holds symlinks. See Hash and the package doc
// for what is written and how.
func HashDir(ctx context.Context, dir string, opts Options) (*Manifest, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("hashassets: %w", err)
	}
	defer root.Close()
	w := NewRootWriter(root)
	defer w.Close()
	return Hash(ctx, dirFS{root.FS(), w}, w, opts)
}

// dirFS reads files through the writer's per-directory roots (one openat
// instead of one per path element).
type dirFS struct {
	fs.FS
	w *RootWriter
}

func (d dirFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	r, base, err := d.w.dir(name)
	if err != nil {
		return nil, err
	}
	return r.Open(base)
}

func (d dirFS) ReadFile(name string) ([]byte, error) {
	r, base, err := d.w.dir(name)
	if err != nil {
		return nil, err
	}
	return r.ReadFile(base)
}

// RootWriter is the Writer of a directory tree opened as an os.Root. It
// keeps an os.Root per directory it touches (closed by Close), so that
// each operation costs one openat/renameat/linkat rather than one per path
// element. It is safe for concurrent use.
type RootWriter struct {
	root *os.Root
	mu   sync.Mutex
	dirs map[string]*os.Root
}

// NewRootWriter returns a writer for the tree of root.
func NewRootWriter(root *os.Root) *RootWriter {
	return &RootWriter{root: root, dirs: map[string]*os.Root{}}
}

// Close releases the directory handles.
func (w *RootWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, r := range w.dirs {
		r.Close()
		delete(w.dirs, k)
	}
	return nil
}

// dir returns the root of name's directory and name's last element.
func (w *RootWriter) dir(name string) (*os.Root, string, error) {
	d, base := path.Split(name)
	if d == "" {
		return w.root, base, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.dirs[d]; r != nil {
		return r, base, nil
	}
	r, err := w.root.OpenRoot(strings.TrimSuffix(d, "/"))
	if err != nil {
		return nil, "", err
	}
	w.dirs[d] = r
	return r, base, nil
}

func tmpName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return ".hashassets-" + hex.EncodeToString(b[:]) + ".tmp"
}

// WriteFile writes data to a new temporary file next to name, then renames
// it over name. Atomic for readers of name; not durable until the caller
// syncs the file system.
func (w *RootWriter) WriteFile(name string, data []byte, perm fs.FileMode) error {
	r, base, err := w.dir(name)
	if err != nil {
		return err
	}
	tmp := tmpName()
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		// The umask may have cleared bits of perm; a release stores the
		// exact mode.
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Rename(tmp, base)
	}
	if err != nil {
		_ = r.Remove(tmp)
	}
	return err
}

// Overwrite replaces the bytes of the existing file name in place (write,
// then truncate) and gives it permission perm, if name is a regular file
// with exactly one link; otherwise it changes nothing and reports false.
// It is not atomic for readers of name, and a failure leaves the file
// partly written: only for a tree private to the caller that is discarded
// on failure (a staging directory). It saves the cost of creating a new
// file and renaming it over name.
func (w *RootWriter) Overwrite(name string, data []byte, perm fs.FileMode) (bool, error) {
	r, base, err := w.dir(name)
	if err != nil {
		return false, err
	}
	fi, err := r.Lstat(base)
	if err != nil {
		return false, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || !fi.Mode().IsRegular() || st.Nlink != 1 {
		return false, nil
	}
	if fi.Mode().Perm()&0o200 == 0 {
		// Staged files are read-only; without CAP_DAC_OVERRIDE the owner
		// must make it writable to open it for writing.
		if err := r.Chmod(base, fi.Mode().Perm()|0o200); err != nil {
			return false, err
		}
	}
	f, err := r.OpenFile(base, os.O_WRONLY, 0)
	if err != nil {
		return false, err
	}
	// Checked again on the open file: the name may have been replaced.
	if fi2, err := f.Stat(); err != nil || !os.SameFile(fi, fi2) {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s changed while being rewritten", name)
		}
		return false, err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err == nil, err
}

// Link makes newname a hard link to oldname: it links a temporary name and
// renames it over newname, so an existing newname is replaced atomically.
func (w *RootWriter) Link(oldname, newname string) error {
	r, base, err := w.dir(newname)
	if err != nil {
		return err
	}
	tmp := tmpName()
	if path.Dir(oldname) == path.Dir(newname) {
		err = r.Link(path.Base(oldname), tmp)
	} else {
		err = w.root.Link(oldname, path.Join(path.Dir(newname), tmp))
	}
	if err != nil {
		return err
	}
	if err := r.Rename(tmp, base); err != nil {
		_ = r.Remove(tmp)
		return err
	}
	return nil
}

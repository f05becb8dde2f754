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

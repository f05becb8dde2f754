package hashassets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/manifest"
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

// Release is an earlier release whose hashed assets may be carried over.
type Release struct {
	// Dir is the release's root directory.
	Dir string
	// Manifest is the hashassets manifest of its own assets.
	Manifest *Manifest
}

// ErrUnsafeManifestPath is returned (wrapped, naming the path) when a
// manifest names a path that is not a clean relative path.
var ErrUnsafeManifestPath = errors.New("unsafe path in asset manifest")

// CarryOver links into dst every hashed asset listed in the manifests of
// olds that dst does not have, under its hashed name (creating missing
// directories), and returns the paths it linked, in order. Hashed names
// embed the content hash, so an existing path is never replaced. Both
// sides are accessed through os.Root (no symlink can lead outside dst or
// an old release) and link(2) never copies bytes. A hashed file missing
// from an old release (pruned by hand) is skipped. Not durable until the
// caller syncs the file system.
func CarryOver(ctx context.Context, dst string, olds []Release) ([]string, error) {
	droot, err := os.OpenRoot(dst)
	if err != nil {
		return nil, fmt.Errorf("hashassets: carry-over: %w", err)
	}
	defer droot.Close()
	var linked []string
	for _, old := range olds {
		if old.Manifest == nil {
			continue
		}
		sroot, err := os.OpenRoot(old.Dir)
		if err != nil {
			return linked, fmt.Errorf("hashassets: carry-over from %s: %w", old.Dir, err)
		}
		for _, a := range old.Manifest.Assets {
			if err := ctx.Err(); err != nil {
				sroot.Close()
				return linked, err
			}
			ok, err := carryOne(droot, sroot, a.Hashed)
			if err != nil {
				sroot.Close()
				return linked, fmt.Errorf("hashassets: carry-over of %s from %s: %w", a.Hashed, old.Dir, err)
			}
			if ok {
				linked = append(linked, a.Hashed)
			}
		}
		sroot.Close()
	}
	return linked, nil
}

func carryOne(droot, sroot *os.Root, p string) (bool, error) {
	if !manifest.ValidPath(p) {
		return false, ErrUnsafeManifestPath
	}
	if _, err := droot.Lstat(p); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	info, err := sroot.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !info.Mode().IsRegular() {
		return false, nil
	}
	dir, base := path.Split(p)
	if dir != "" {
		if err := droot.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
	} else {
		dir = "."
	}
	sd, err := sroot.Open(dir)
	if err != nil {
		return false, err
	}
	defer sd.Close()
	dd, err := droot.Open(dir)
	if err != nil {
		return false, err
	}
	defer dd.Close()
	err = unix.Linkat(int(sd.Fd()), base, int(dd.Fd()), base, 0)
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	if err != nil {
		return false, &os.LinkError{Op: "link", Old: filepath.Join(sroot.Name(), p), New: filepath.Join(droot.Name(), p), Err: err}
	}
	return true, nil
}

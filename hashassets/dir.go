package hashassets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/fsatomic"
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

// WriteFile writes data to a new temporary file next to name, then renames
// it over name (fsatomic, without fsync). Atomic for readers of name; not
// durable until the caller syncs the file system.
func (w *RootWriter) WriteFile(name string, data []byte, perm fs.FileMode) error {
	r, base, err := w.dir(name)
	if err != nil {
		return err
	}
	// fsatomic sets perm exactly: the umask may have cleared bits of it,
	// and a release stores the exact mode.
	return fsatomic.Replacer{Root: r, NoSync: true}.WriteFile(base, data, perm)
}

// InPlaceFile is a file opened by RootWriter.OpenInPlace: read it with
// ReadAll, then rewrite it with Rewrite, through the same descriptor. It is
// not safe for concurrent use.
type InPlaceFile struct {
	f        *os.File
	size     int64
	perm     fs.FileMode // permission bits as found
	single   bool        // a regular file with exactly one link
	widened  bool        // made owner-writable to be opened for writing
	rewrote  bool
	writable bool
}

// OpenInPlace opens the existing file name to be read and, if it is a
// regular file with exactly one link, rewritten in place (see Rewrite).
// One descriptor serves both, which saves the system calls of opening the
// file twice. A read-only file is made owner-writable for the open if the
// process could not open it otherwise (no CAP_DAC_OVERRIDE); Close
// restores its mode unless Rewrite set a new one.
func (w *RootWriter) OpenInPlace(name string) (*InPlaceFile, error) {
	r, base, err := w.dir(name)
	if err != nil {
		return nil, err
	}
	p := &InPlaceFile{writable: true}
	p.f, err = r.OpenFile(base, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrPermission) {
		// Widen only a file with one link: the mode of a hard link shared
		// with another tree (a live release) must not change, even briefly.
		fi, lerr := r.Lstat(base)
		st, _ := sysStat(fi)
		if lerr == nil && fi.Mode().IsRegular() && st != nil && st.Nlink == 1 && fi.Mode().Perm()&0o200 == 0 {
			if err = r.Chmod(base, fi.Mode().Perm()|0o200); err != nil {
				return nil, err
			}
			p.widened = true
			if p.f, err = r.OpenFile(base, os.O_RDWR, 0); err != nil {
				_ = r.Chmod(base, fi.Mode().Perm())
			}
		}
	}
	if errors.Is(err, fs.ErrPermission) && !p.widened {
		p.writable = false
		p.f, err = r.Open(base)
	}
	if err != nil {
		return nil, err
	}
	fi, err := p.f.Stat()
	if err != nil {
		p.Close()
		return nil, err
	}
	p.size, p.perm = fi.Size(), fi.Mode().Perm()
	if p.widened {
		p.perm &^= 0o200
	}
	st, ok := sysStat(fi)
	p.single = ok && fi.Mode().IsRegular() && st.Nlink == 1 && p.writable
	return p, nil
}

func sysStat(fi fs.FileInfo) (*syscall.Stat_t, bool) {
	if fi == nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}

// Size and Perm are the file's size and permission bits when it was opened.
func (p *InPlaceFile) Size() int64       { return p.size }
func (p *InPlaceFile) Perm() fs.FileMode { return p.perm }

// ReadAll reads the file into b's capacity (growing it if needed).
func (p *InPlaceFile) ReadAll(b []byte) ([]byte, error) {
	if n := int(p.size) + 1; cap(b) < n {
		b = make([]byte, 0, n+n/8+512)
	}
	return readAll(b[:0], p.f)
}

// Rewrite replaces the file's bytes with the concatenation of segs
// (pwritev, then a truncate if it got shorter) and gives it permission
// perm, if the file is a regular file with exactly one link; otherwise it
// writes nothing and reports false, so that a hard link shared with
// another tree is never written through. It is not atomic for readers of
// the file, and a failure leaves it partly written: only for a tree
// private to the caller that is discarded on failure (a staging
// directory). It saves creating a new file and renaming it over the old.
func (p *InPlaceFile) Rewrite(segs [][]byte, perm fs.FileMode) (bool, error) {
	if !p.single {
		return false, nil
	}
	n, err := pwritev(p.f, segs)
	if err == nil && n < p.size {
		err = p.f.Truncate(n)
	}
	if err == nil && (perm != p.perm || p.widened) {
		err = p.f.Chmod(perm)
	}
	p.rewrote = err == nil
	return err == nil, err
}

// Close closes the file, restoring its mode if OpenInPlace widened it and
// Rewrite did not set it.
func (p *InPlaceFile) Close() error {
	if p.widened && !p.rewrote {
		_ = p.f.Chmod(p.perm)
	}
	return p.f.Close()
}

// pwritev writes the concatenation of segs at offset 0 and returns its
// length.
func pwritev(f *os.File, segs [][]byte) (int64, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var off int64
	// Copied: a short write trims the slices in place.
	iov := make([][]byte, 0, len(segs))
	for _, s := range segs {
		if len(s) > 0 {
			iov = append(iov, s)
		}
	}
	var werr error
	for len(iov) > 0 && werr == nil {
		batch := iov[:min(len(iov), 1024)] // IOV_MAX
		var n int
		cerr := rc.Write(func(fd uintptr) bool {
			for {
				n, werr = unix.Pwritev(int(fd), batch, off)
				if werr != unix.EINTR {
					return true
				}
			}
		})
		if cerr != nil {
			return off, cerr
		}
		if werr == nil && n == 0 {
			werr = io.ErrShortWrite
		}
		off += int64(n)
		for n > 0 {
			if n >= len(iov[0]) {
				n -= len(iov[0])
				iov = iov[1:]
			} else {
				iov[0] = iov[0][n:]
				n = 0
			}
		}
	}
	if werr != nil {
		return off, &fs.PathError{Op: "pwritev", Path: f.Name(), Err: werr}
	}
	return off, nil
}

// Link makes newname a hard link to oldname: it links a temporary name and
// renames it over newname (fsatomic, without fsync), so an existing
// newname is replaced atomically.
func (w *RootWriter) Link(oldname, newname string) error {
	if path.Dir(oldname) != path.Dir(newname) {
		return fsatomic.Replacer{Root: w.root, NoSync: true}.Link(oldname, newname)
	}
	r, base, err := w.dir(newname)
	if err != nil {
		return err
	}
	return fsatomic.Replacer{Root: r, NoSync: true}.Link(path.Base(oldname), base)
}

package safewrite

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/manifest"
)

// Options configure a Writer.
type Options struct {
	// Dir is the staging directory. It must exist and be empty; everything
	// the Writer creates stays below it.
	Dir string
	// Limits bound the artifact; zero fields take the defaults.
	Limits Limits
	// LiveDir is the root of the live release ("" if there is none). Files
	// of the live release with the same sha256 and mode as a staged file are
	// hardlinked instead of written. It must be on the same file system as
	// Dir for that to happen; otherwise files are simply written.
	LiveDir string
	// Live is the manifest of the live release (nil if there is none).
	Live *manifest.Manifest
	// Logger receives debug messages (dedup fallbacks); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Writer has staged so far.
type Stats struct {
	Files       int64 // regular files staged (written, linked from live, or hardlinked in the artifact)
	Bytes       int64 // their total size
	LinkedFiles int64 // of those, files hardlinked from the live release
	LinkedBytes int64 // and their size
}

// SmallFile is the size up to which a file is buffered in memory, hashed,
// and then either linked from the live release (no write at all) or written.
// Larger files stream to a temporary file next to their name (an
// fsatomic.PendingFile) and are then renamed into place or replaced by a
// link.
const SmallFile = 1 << 20

// Writer is the Sink that writes into a staging directory.
//
// # Safety
//
// Every name is validated (see the Sink errors) and every file system call
// goes through an os.Root opened on Options.Dir, so nothing is created
// outside it even for hostile input. Parent directories of entries are
// created by the Writer itself and tracked, so a path is never written
// below a symlink or a file of the artifact.
// Names of the form fsatomic.IsTemp recognises are refused (ErrUnsafePath):
// they are reserved for the temporary files of large files in flight.
//
// # Modes
//
// Regular files are stored read-only: 0444, or 0555 if the artifact had
// any execute bit (manifest.NormalMode); setuid, setgid, sticky and write
// bits are dropped. Directories are 0755. Ownership is the process's.
//
// # Limits
//
// MaxFiles counts every entry, including directories created as parents;
// MaxBytes counts the content of regular files as it is read (also of
// files then linked from the live release), and a declared size that
// cannot fit is refused before anything is read; MaxPathLen applies to
// names and symlink targets.
//
// # Durability
//
// Nothing is fsynced per file. Call Sync once before the tree is made live
// (one syncfs(2) of the staging file system).
//
// # Concurrency
//
// All methods are safe for concurrent use, except Close, which must be
// called after every other call has returned. Memory use is bounded: each
// File call in flight holds one SmallFile buffer.
type Writer struct {
	root    *os.Root
	rootDir *os.File // Dir itself, for linkat and syncfs
	dir     string
	limits  Limits
	log     *slog.Logger

	liveRoot *os.Root // nil without a live release
	live     map[liveKey]*manifest.Entry

	chmod bool // the umask strips bits we need: chmod explicitly

	used atomic.Int64 // bytes of regular file content accepted, for MaxBytes

	files, bytes, linkedFiles, linkedBytes atomic.Int64

	mu     sync.Mutex
	nodes  map[string]*node
	count  int // entries of any kind, for MaxFiles
	closed bool
	// dirs and liveDirs hold open descriptors of directories of the
	// staging tree and of the live release (up to maxDirFDs each), so
	// that creating or linking a file costs one *at(2) call on its last
	// name instead of os.Root's open and close of every path component
	// (4.2 opens per file on rust-doc's tree, a third of its extraction
	// time). They are opened through the roots, so they are confined as
	// any other path.
	dirs, liveDirs map[string]*os.File
}

// maxDirFDs bounds each of Writer.dirs and Writer.liveDirs: a tree with
// more directories opens the others for each use.
const maxDirFDs = 4096

type liveKey struct {
	sha  string
	mode fs.FileMode
}

type kind uint8

const (
	kDir kind = iota + 1
	kFile
	kSymlink
)

func (k kind) String() string {
	switch k {
	case kDir:
		return "directory"
	case kFile:
		return "file"
	case kSymlink:
		return "symlink"
	}
	return "entry"
}

type node struct {
	kind     kind
	explicit bool // a Dir entry named it (not just a parent of something)
	done     bool // a file's content is complete
	entry    manifest.Entry
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, SmallFile); return &b }}

// New returns a Writer for opts.Dir, which must exist and be empty.
func New(opts Options) (*Writer, error) {
	lim := opts.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxBytes
	}
	if lim.MaxFiles <= 0 {
		lim.MaxFiles = DefaultMaxFiles
	}
	if lim.MaxPathLen <= 0 {
		lim.MaxPathLen = DefaultMaxPathLen
	}
	root, err := os.OpenRoot(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("stage: open staging dir: %w", err)
	}
	w := &Writer{root: root, dir: opts.Dir, limits: lim, log: opts.Logger, nodes: map[string]*node{}}
	if w.log == nil {
		w.log = slog.Default()
	}
	fail := func(err error) (*Writer, error) {
		w.closeFiles()
		return nil, err
	}
	w.rootDir, err = root.Open(".")
	if err != nil {
		return fail(fmt.Errorf("stage: open staging dir %s: %w", opts.Dir, err))
	}
	names, err := w.rootDir.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("stage: read staging dir %s: %w", opts.Dir, err))
	}
	if len(names) > 0 {
		return fail(fmt.Errorf("stage: staging dir %s is not empty (has %q)", opts.Dir, names[0]))
	}
	w.chmod = umask()&0o555 != 0
	if opts.LiveDir != "" && opts.Live != nil {
		w.liveRoot, err = os.OpenRoot(opts.LiveDir)
		if err != nil {
			return fail(fmt.Errorf("stage: open live release %s: %w", opts.LiveDir, err))
		}
		w.live = make(map[liveKey]*manifest.Entry, len(opts.Live.Entries))
		for i := range opts.Live.Entries {
			e := &opts.Live.Entries[i]
			if e.SHA256 == "" || e.IsSymlink() || !manifest.ValidPath(e.Path) {
				continue
			}
			k := liveKey{e.SHA256, e.Mode}
			if _, ok := w.live[k]; !ok {
				w.live[k] = e
			}
		}
	}
	return w, nil
}

// umask returns the process umask from /proc (without changing it), or
// 0o777 if it cannot be read, which makes the Writer chmod every file.
func umask() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o777
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 32)
			if err != nil {
				return 0o777
			}
			return int(n)
		}
	}
	return 0o777
}

func (w *Writer) closeFiles() {
	for _, f := range w.dirs {
		f.Close()
	}
	for _, f := range w.liveDirs {
		f.Close()
	}
	w.dirs, w.liveDirs = nil, nil
	if w.rootDir != nil {
		w.rootDir.Close()
	}
	if w.liveRoot != nil {
		w.liveRoot.Close()
	}
	w.root.Close()
}

// Stats returns the counters so far. It is safe to call at any time, also
// while other goroutines write.
func (w *Writer) Stats() Stats {
	return Stats{
		Files:       w.files.Load(),
		Bytes:       w.bytes.Load(),
		LinkedFiles: w.linkedFiles.Load(),
		LinkedBytes: w.linkedBytes.Load(),
	}
}

// Sync makes everything written so far durable with one syncfs(2) of the
// file system holding the staging directory.
func (w *Writer) Sync() error {
	if err := unix.Syncfs(int(w.rootDir.Fd())); err != nil {
		return fmt.Errorf("stage: syncfs %s: %w", w.dir, err)
	}
	return nil
}

// Close finishes the stage and returns the sorted manifest of every regular
// file and symlink written (directories are implied by the paths). It must
// be called once, after every other call has returned. It does not delete
// anything staged, even after an error: the caller discards the staging
// directory.
func (w *Writer) Close() (*manifest.Manifest, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, errors.New("stage: Writer closed twice")
	}
	w.closed = true
	var errs []error
	m := &manifest.Manifest{Entries: make([]manifest.Entry, 0, len(w.nodes))}
	for p, n := range w.nodes {
		switch {
		case n.kind == kDir:
		case n.kind == kFile && !n.done:
			errs = append(errs, &EntryError{Entry: p, Err: errors.New("stage: Close called while the file was still being written")})
		default:
			m.Entries = append(m.Entries, n.entry)
		}
	}
	m.Sort()
	w.closeFiles()
	return m, errors.Join(errs...)
}

// cleanName validates an entry name and returns its clean relative form.
// Leading "./" elements and, for directories, trailing slashes are
// accepted (tar writes both). "" is returned for the root itself.
func (w *Writer) cleanName(name string, dir bool) (string, error) {
	if err := w.checkString(name); err != nil {
		return "", err
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name", ErrUnsafePath)
	}
	if !dir && strings.HasSuffix(name, "/") {
		return "", fmt.Errorf("%w: trailing slash on a non-directory", ErrUnsafePath)
	}
	var b strings.Builder
	b.Grow(len(name))
	for elem := range strings.SplitSeq(name, "/") {
		switch elem {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: \"..\" element", ErrUnsafePath)
		}
		if fsatomic.IsTemp(elem) {
			return "", fmt.Errorf("%w: reserved temporary name %q", ErrUnsafePath, elem)
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(elem)
	}
	clean := b.String()
	if clean == "" && !dir {
		return "", fmt.Errorf("%w: names the staging root", ErrUnsafePath)
	}
	return clean, nil
}

func (w *Writer) checkString(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty name", ErrUnsafePath)
	case len(s) > w.limits.MaxPathLen:
		return fmt.Errorf("%w: %w: %d bytes, max %d", ErrUnsafePath, ErrLimit, len(s), w.limits.MaxPathLen)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: NUL byte", ErrUnsafePath)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: invalid UTF-8", ErrUnsafePath)
	}
	return nil
}

// reserve claims clean for an entry of kind k, creating missing parent
// directories (and clean itself for a directory). It reports false for a
// directory that already existed implicitly (nothing to do).
func (w *Writer) reserve(clean string, k kind) (*node, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, errors.New("stage: Writer is closed")
	}
	if old := w.nodes[clean]; old != nil {
		if k == kDir && old.kind == kDir && !old.explicit {
			old.explicit = true
			return old, nil
		}
		return nil, fmt.Errorf("%w: already staged as a %s", ErrDuplicate, old.kind)
	}
	for i := 0; i < len(clean); i++ {
		if clean[i] != '/' {
			continue
		}
		p := clean[:i]
		n := w.nodes[p]
		if n == nil {
			if err := w.mkdirLocked(p); err != nil {
				return nil, err
			}
			continue
		}
		switch n.kind {
		case kDir:
		case kSymlink:
			return nil, fmt.Errorf("%w: parent %q is a symlink entry", ErrEscapes, p)
		default:
			return nil, fmt.Errorf("%w: parent %q is a %s entry", ErrDuplicate, p, n.kind)
		}
	}
	if k == kDir {
		if err := w.mkdirLocked(clean); err != nil {
			return nil, err
		}
		n := w.nodes[clean]
		n.explicit = true
		return n, nil
	}
	if w.count >= w.limits.MaxFiles {
		return nil, fmt.Errorf("%w: more than %d entries", ErrLimit, w.limits.MaxFiles)
	}
	w.count++
	n := &node{kind: k}
	w.nodes[clean] = n
	return n, nil
}

func (w *Writer) mkdirLocked(p string) error {
	if w.count >= w.limits.MaxFiles {
		return fmt.Errorf("%w: more than %d entries", ErrLimit, w.limits.MaxFiles)
	}
	if err := w.root.Mkdir(p, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	if w.chmod {
		if err := w.root.Chmod(p, 0o755); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	w.count++
	w.nodes[p] = &node{kind: kDir}
	return nil
}

// release forgets a reservation whose entry failed, so that a caller may
// retry it (the S3 source retries downloads).
func (w *Writer) release(clean string) {
	w.mu.Lock()
	delete(w.nodes, clean)
	w.count--
	w.mu.Unlock()
}

func (w *Writer) finish(n *node, e manifest.Entry, linked bool) {
	w.mu.Lock()
	n.entry = e
	n.done = true
	w.mu.Unlock()
	if e.IsSymlink() {
		return
	}
	w.files.Add(1)
	w.bytes.Add(e.Size)
	if linked {
		w.linkedFiles.Add(1)
		w.linkedBytes.Add(e.Size)
	}
}

// Dir creates the directory name (and missing parents) with mode 0755; mode
// is ignored. A directory that exists because an earlier entry needed it as
// a parent is not a duplicate; naming the same directory twice is.
func (w *Writer) Dir(name string, mode fs.FileMode) error {
	clean, err := w.cleanName(name, true)
	if err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	if clean == "" {
		return nil // the staging root itself ("./" in a tar)
	}
	if _, err := w.reserve(clean, kDir); err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	return nil
}

// checkTarget validates a symlink target for a link at clean: relative,
// and its ".." elements only at the start and no more of them than the
// link's directory is deep. Targets like "a/../b" are refused although
// lexically inside: the kernel resolves ".." after a symlink component
// physically, so "s/.." with s -> "." would leave the tree.
func (w *Writer) checkTarget(clean, target string) (string, error) {
	if err := w.checkString(target); err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	if strings.HasPrefix(target, "/") {
		return "", fmt.Errorf("%w: absolute target %q", ErrEscapes, target)
	}
	up, rest := 0, []string{}
	for elem := range strings.SplitSeq(target, "/") {
		switch elem {
		case "", ".":
		case "..":
			if len(rest) > 0 {
				return "", fmt.Errorf("%w: target %q has \"..\" after a name", ErrEscapes, target)
			}
			up++
		default:
			rest = append(rest, elem)
		}
	}
	depth := strings.Count(clean, "/")
	if up > depth {
		return "", fmt.Errorf("%w: target %q leaves the tree", ErrEscapes, target)
	}
	out := strings.Repeat("../", up) + strings.Join(rest, "/")
	out = strings.TrimSuffix(out, "/")
	if out == "" {
		out = "."
	}
	return out, nil
}

// Symlink creates name -> target. The target is stored in clean form.
func (w *Writer) Symlink(name, target string) error {
	clean, err := w.cleanName(name, false)
	if err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	t, err := w.checkTarget(clean, target)
	if err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	n, err := w.reserve(clean, kSymlink)
	if err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	if err := w.root.Symlink(t, clean); err != nil {
		w.release(clean)
		return &EntryError{Entry: name, Err: fmt.Errorf("symlink: %w", err)}
	}
	w.finish(n, manifest.Entry{Path: clean, Link: t, Mode: 0o777}, false)
	return nil
}

// Hardlink makes name another name of target, which must be a regular file
// entry already complete in this artifact.
func (w *Writer) Hardlink(name, target string) error {
	clean, err := w.cleanName(name, false)
	if err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	tclean, err := w.cleanName(target, false)
	if err != nil {
		return &EntryError{Entry: name, Err: fmt.Errorf("%w: hardlink target %q: %w", ErrEscapes, target, err)}
	}
	w.mu.Lock()
	tn := w.nodes[tclean]
	var te manifest.Entry
	ok := tn != nil && tn.kind == kFile && tn.done
	if ok {
		te = tn.entry
	}
	w.mu.Unlock()
	if !ok {
		return &EntryError{Entry: name, Err: fmt.Errorf("%w: hardlink target %q is not an earlier regular file entry", ErrEscapes, target)}
	}
	n, err := w.reserve(clean, kFile)
	if err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	if err := w.root.Link(tclean, clean); err != nil {
		w.release(clean)
		return &EntryError{Entry: name, Err: fmt.Errorf("link to %q: %w", target, err)}
	}
	te.Path = clean
	w.finish(n, te, false)
	return nil
}

// Existing links name to the live release's file with this sha256 and
// mode (after manifest.NormalMode) and reports true, or reports false and
// stages nothing: no live release, no such file, or it cannot be linked
// (another file system, link count exhausted). The file's size counts
// toward MaxBytes.
func (w *Writer) Existing(name string, mode fs.FileMode, sha string) (bool, error) {
	return w.existing(name, mode, sha, false)
}

// ExistingVerified is Existing for a sha256 the caller only remembers (a
// cache keyed by an S3 ETag), not one the artifact states: the live file
// is linked, then read through the new link and kept only if its content
// still hashes to sha. A live file changed behind the store's back is
// unlinked again and reported false, so the caller downloads it. Safe
// for concurrent use.
func (w *Writer) ExistingVerified(name string, mode fs.FileMode, sha string) (bool, error) {
	return w.existing(name, mode, sha, true)
}

func (w *Writer) existing(name string, mode fs.FileMode, sha string, verify bool) (bool, error) {
	clean, err := w.cleanName(name, false)
	if err != nil {
		return false, &EntryError{Entry: name, Err: err}
	}
	m := manifest.NormalMode(mode)
	le := w.live[liveKey{sha, m}]
	if le == nil {
		return false, nil
	}
	if err := w.addBytes(le.Size); err != nil {
		return false, &EntryError{Entry: name, Err: err}
	}
	n, err := w.reserve(clean, kFile)
	if err != nil {
		w.used.Add(-le.Size)
		return false, &EntryError{Entry: name, Err: err}
	}
	ok, err := w.linkLive(clean, le, le.Size)
	if ok && err == nil && verify {
		ok, err = w.verifyLinked(clean, sha)
	}
	if err != nil || !ok {
		w.used.Add(-le.Size)
		w.release(clean)
		if err != nil {
			return false, &EntryError{Entry: name, Err: err}
		}
		return false, nil
	}
	w.finish(n, manifest.Entry{Path: clean, Size: le.Size, SHA256: sha, Mode: m}, true)
	return true, nil
}

// verifyLinked reads the staged file clean (just linked from the live
// release) and reports whether it hashes to sha; if not, it removes it.
func (w *Writer) verifyLinked(clean, sha string) (bool, error) {
	sdir, sbase := path.Split(clean)
	sfd, sdone, err := w.dirFD(w.root, &w.dirs, sdir)
	if err != nil {
		return false, fmt.Errorf("open parent %s: %w", sdir, err)
	}
	defer sdone()
	fd, err := unix.Openat(sfd, sbase, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return false, fmt.Errorf("verify link from live release: %w", err)
	}
	f := os.NewFile(uintptr(fd), clean)
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return false, fmt.Errorf("verify link from live release: %w", err)
	}
	if hex.EncodeToString(h.Sum(nil)) == sha {
		return true, nil
	}
	w.log.Warn("stage: live file does not hash to its remembered sha256 (changed on disk?), downloading it", "entry", clean, "sha256", sha)
	if err := unix.Unlinkat(sfd, sbase, 0); err != nil {
		return false, fmt.Errorf("remove unverified link %s: %w", clean, err)
	}
	return false, nil
}

func (w *Writer) addBytes(n int64) error {
	if v := w.used.Add(n); v > w.limits.MaxBytes {
		return fmt.Errorf("%w: more than %d bytes of file content", ErrLimit, w.limits.MaxBytes)
	}
	return nil
}

// linkLive hardlinks the live file le to clean (whose parent exists and is
// a directory the Writer created). It reports false when it could not,
// for a reason that writing the file instead fixes.
func (w *Writer) linkLive(clean string, le *manifest.Entry, size int64) (bool, error) {
	if le.Size != size {
		return false, nil
	}
	ldir, lbase := path.Split(le.Path)
	lfd, ldone, err := w.dirFD(w.liveRoot, &w.liveDirs, ldir)
	if err != nil {
		return false, nil
	}
	defer ldone()
	var st unix.Stat_t
	if err := unix.Fstatat(lfd, lbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != size || fs.FileMode(st.Mode&0o7777) != le.Mode {
		w.log.Debug("stage: live file changed, not linking", "live", le.Path, "entry", clean)
		return false, nil
	}
	sdir, sbase := path.Split(clean)
	sfd, sdone, err := w.dirFD(w.root, &w.dirs, sdir)
	if err != nil {
		return false, fmt.Errorf("open parent %s: %w", sdir, err)
	}
	defer sdone()
	err = unix.Linkat(lfd, lbase, sfd, sbase, 0)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.EMLINK), errors.Is(err, unix.ENOENT),
		errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		w.log.Debug("stage: cannot link from live release, writing instead", "live", le.Path, "entry", clean, "err", err)
		return false, nil
	default:
		return false, fmt.Errorf("link from live release %s: %w", filepath.Join(w.liveRoot.Name(), le.Path), err)
	}
}

// dirFD returns a descriptor of directory dir ("" or a path ending in
// "/") of root, from cache (w.dirs or w.liveDirs) or opened through root,
// and the function to call when done with it.
func (w *Writer) dirFD(root *os.Root, cache *map[string]*os.File, dir string) (int, func(), error) {
	if dir == "" && root == w.root {
		return int(w.rootDir.Fd()), func() {}, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if f := (*cache)[dir]; f != nil {
		return int(f.Fd()), func() {}, nil
	}
	name := strings.TrimSuffix(dir, "/")
	if name == "" {
		name = "."
	}
	f, err := root.Open(name)
	if err != nil {
		return -1, nil, err
	}
	if len(*cache) >= maxDirFDs {
		return int(f.Fd()), func() { f.Close() }, nil
	}
	if *cache == nil {
		*cache = map[string]*os.File{}
	}
	(*cache)[dir] = f
	return int(f.Fd()), func() {}, nil
}

// File writes a regular file. Its sha256 is computed while it streams; if
// the live release has a file with the same sha256 and mode, the staged
// path becomes a hardlink of it. Reading stops as soon as MaxBytes is
// crossed or the content exceeds a declared size, so a decompression bomb
// never writes more than the limit. On error nothing is left at name and
// the name may be written again.
func (w *Writer) File(ctx context.Context, name string, mode fs.FileMode, size int64, wantSHA256 string, r io.Reader) error {
	clean, err := w.cleanName(name, false)
	if err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	if size > w.limits.MaxBytes-w.used.Load() {
		return &EntryError{Entry: name, Err: fmt.Errorf("%w: declared size %d bytes, %d of %d bytes left", ErrLimit, size, max(0, w.limits.MaxBytes-w.used.Load()), w.limits.MaxBytes)}
	}
	if err := ctx.Err(); err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	n, err := w.reserve(clean, kFile)
	if err != nil {
		return &EntryError{Entry: name, Err: err}
	}
	m := manifest.NormalMode(mode)
	e, linked, used, err := w.writeFile(ctx, clean, m, size, wantSHA256, r)
	if err != nil {
		w.used.Add(-used)
		w.release(clean)
		return &EntryError{Entry: name, Err: err}
	}
	w.finish(n, e, linked)
	return nil
}

// fill reads into buf until it is full or r ends, counting bytes against
// MaxBytes as they arrive.
func (w *Writer) fill(ctx context.Context, r io.Reader, buf []byte, used *int64) (int, bool, error) {
	n, empty := 0, 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		if k > 0 {
			n += k
			*used += int64(k)
			if lerr := w.addBytes(int64(k)); lerr != nil {
				return n, false, lerr
			}
		}
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, fmt.Errorf("read: %w", err)
		}
		if k == 0 {
			if empty++; empty >= 100 {
				return n, false, fmt.Errorf("read: %w", io.ErrNoProgress)
			}
			if err := ctx.Err(); err != nil {
				return n, false, err
			}
		} else {
			empty = 0
		}
	}
	return n, false, nil
}

func (w *Writer) writeFile(ctx context.Context, clean string, m fs.FileMode, size int64, want string, r io.Reader) (e manifest.Entry, linked bool, used int64, err error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	if size >= 0 {
		r = io.LimitReader(r, size+1) // one byte more reveals a lying header
	}
	h := sha256.New()
	n, eof, err := w.fill(ctx, r, buf, &used)
	if err != nil {
		return e, false, used, err
	}
	h.Write(buf[:n])
	if eof {
		e, err = w.check(clean, m, size, want, int64(n), h)
		if err != nil {
			return e, false, used, err
		}
		if le := w.live[liveKey{e.SHA256, m}]; le != nil {
			ok, err := w.linkLive(clean, le, e.Size)
			if err != nil {
				return e, false, used, err
			}
			if ok {
				return e, true, used, nil
			}
		}
		return e, false, used, w.writeSmall(clean, m, buf[:n])
	}

	// Large file: stream to a temporary name, then link or rename. Not
	// durable until Sync.
	f, err := fsatomic.Replacer{Root: w.root, NoSync: true}.Create(clean, m)
	if err != nil {
		return e, false, used, fmt.Errorf("create temporary file: %w", err)
	}
	defer f.Cleanup()
	total := int64(n)
	if _, err := f.Write(buf[:n]); err != nil {
		return e, false, used, fmt.Errorf("write: %w", err)
	}
	for !eof {
		if err := ctx.Err(); err != nil {
			return e, false, used, err
		}
		n, eof, err = w.fill(ctx, r, buf, &used)
		if err != nil {
			return e, false, used, err
		}
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return e, false, used, fmt.Errorf("write: %w", err)
		}
		total += int64(n)
	}
	e, err = w.check(clean, m, size, want, total, h)
	if err != nil {
		return e, false, used, err
	}
	if le := w.live[liveKey{e.SHA256, m}]; le != nil {
		ok, err := w.linkLive(clean, le, e.Size)
		if err != nil {
			return e, false, used, err
		}
		if ok {
			return e, true, used, nil // Cleanup removes the temporary file
		}
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return e, false, used, fmt.Errorf("put into place: %w", err)
	}
	return e, false, used, nil
}

func (w *Writer) check(clean string, m fs.FileMode, size int64, want string, n int64, h hash.Hash) (manifest.Entry, error) {
	e := manifest.Entry{Path: clean, Size: n, Mode: m}
	if size >= 0 && n != size {
		if n > size {
			return e, fmt.Errorf("%w: more than the declared %d bytes", ErrSizeMismatch, size)
		}
		return e, fmt.Errorf("%w: %d bytes, declared %d", ErrSizeMismatch, n, size)
	}
	e.SHA256 = hex.EncodeToString(h.Sum(nil))
	if want != "" && !strings.EqualFold(want, e.SHA256) {
		return e, fmt.Errorf("%w: sha256 %s, want %s", ErrChecksum, e.SHA256, want)
	}
	return e, nil
}

func (w *Writer) writeSmall(clean string, m fs.FileMode, data []byte) error {
	dir, base := path.Split(clean)
	dfd, done, err := w.dirFD(w.root, &w.dirs, dir)
	if err != nil {
		return fmt.Errorf("create: open parent %s: %w", dir, err)
	}
	defer done()
	// One name in a directory the Writer made: O_EXCL|O_NOFOLLOW refuse
	// anything already there, a symlink included.
	fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(m.Perm()))
	if err != nil {
		return fmt.Errorf("create: %w", &fs.PathError{Op: "openat", Path: clean, Err: err})
	}
	for b := data; len(b) > 0; {
		n, werr := unix.Write(fd, b)
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			err = werr
			break
		}
		b = b[n:]
	}
	if err == nil && w.chmod {
		err = unix.Fchmod(fd, uint32(m.Perm()))
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(dfd, base, 0)
		return fmt.Errorf("write: %w", &fs.PathError{Op: "write", Path: clean, Err: err})
	}
	return nil
}

var _ Sink = (*Writer)(nil)

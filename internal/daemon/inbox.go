package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/api"
)

// inbox is a directory archives are renamed into. Processed archives move
// to done/, failed/ (with NAME.log saying why) or skipped/ (superseded by
// a newer one before they ran); a NAME.sha256 beside an archive moves with
// it.
type inbox struct {
	dir  string
	site string // for logs
	log  *slog.Logger

	mu     sync.Mutex
	sub    *inboxWatch // nil if not watching
	closed bool
}

// Subdirectories of an inbox.
const (
	inboxDone    = "done"
	inboxFailed  = "failed"
	inboxSkipped = "skipped"
)

func newInbox(dir, site string, log *slog.Logger) (*inbox, error) {
	for _, sub := range []string{inboxDone, inboxFailed, inboxSkipped} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o770|os.ModeSetgid); err != nil {
			return nil, fmt.Errorf("inbox %s: %w", dir, err)
		}
	}
	if log == nil {
		log = slog.Default()
	}
	return &inbox{dir: dir, site: site, log: log}, nil
}

// list returns the archives waiting in the inbox, oldest first.
func (in *inbox) list() ([]string, error) {
	ents, err := os.ReadDir(in.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		// Not only regular files: a symlink, directory or device with an
		// archive's name is taken too, and refused (openEntry).
		if isArchive(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sortByMtime(in.dir, names)
	return names, nil
}

// watch sends the names of files renamed into the inbox (IN_MOVED_TO) on
// out until close; it closes out when it stops. Files written in place
// are not picked up until they are renamed (a half-written archive is
// never deployed). Every inbox of the process shares one inotify instance
// (inotify); when the inbox cannot be watched, or stops being watched,
// watch logs a warning naming the site and why, and returns: the caller
// then finds archives by its periodic rescan alone. Once the watch is in
// place, and whenever the kernel drops events (queue overflow), watch
// lists the inbox and sends every archive in it, so a name may come more
// than once.
func (in *inbox) watch(out chan<- string) {
	defer close(out)
	fallback := func(err error) {
		in.log.Warn("inbox: not watched, falling back to polling", "site", in.site, "dir", in.dir, "every", rescan, "err", err)
	}
	w, err := inotify.add(in.dir, in.log)
	if err != nil {
		fallback(err)
		return
	}
	defer inotify.remove(w)
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.sub = w
	in.mu.Unlock()
	send := func(name string) bool {
		select {
		case out <- name:
			return true
		case <-w.gone:
			return false
		}
	}
	// What arrived before the watch was in place (after the caller's
	// first listing) has no event: list once more. The caller ignores
	// names it has queued already.
	select {
	case w.lost <- struct{}{}:
	default: // an overflow already asks for it
	}
	for {
		select {
		case <-w.gone:
			return
		case err := <-w.failed:
			fallback(err)
			return
		case <-w.lost:
			names, err := in.list()
			if err != nil {
				in.log.Error("inbox: listing failed", "site", in.site, "dir", in.dir, "err", err)
			}
			for _, n := range names {
				if !send(n) {
					return
				}
			}
		case name := <-w.names:
			if !send(name) {
				return
			}
		}
	}
}

func (in *inbox) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	if in.sub != nil {
		inotify.remove(in.sub)
		in.sub = nil
	}
}

// inotify is the process's one inotify instance, shared by the inboxes of
// every site: Linux allows few instances per user (128 by default) but
// many watches (one per inbox). It is made at the first watch and kept for
// the life of the process.
var inotify inotifyHub

// inotifyHub dispatches the events of one inotify descriptor to the
// inboxes watching. Its methods are safe for concurrent use.
type inotifyHub struct {
	mu      sync.Mutex
	file    *os.File              // nil until the first add (and after a read error)
	fd      int                   // file's descriptor (File.Fd would make it blocking)
	log     *slog.Logger          // of the latest add, for what concerns every inbox
	watches map[int][]*inboxWatch // by watch descriptor: an inbox directory may be watched twice during a reload
}

// inboxWatch is one inbox's subscription.
type inboxWatch struct {
	dir    string
	wd     int
	names  chan string   // IN_MOVED_TO names (buffered: one slow inbox does not hold up the others)
	lost   chan struct{} // events were dropped: list the directory (buffered, 1)
	failed chan error    // the watch ended (directory removed, read error) (buffered, 1)
	gone   chan struct{} // closed by remove
	once   sync.Once
}

// add starts watching dir for IN_MOVED_TO.
func (h *inotifyHub) add(dir string, log *slog.Logger) (*inboxWatch, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = log
	if h.file == nil {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
		if err != nil {
			return nil, fmt.Errorf("inotify_init: %w (see fs.inotify.max_user_instances)", err)
		}
		// A non-blocking descriptor goes through the runtime poller.
		h.file, h.fd = os.NewFile(uintptr(fd), "inotify"), fd
		h.watches = map[int][]*inboxWatch{}
		go h.read(h.file)
	}
	wd, err := unix.InotifyAddWatch(h.fd, dir, unix.IN_MOVED_TO|unix.IN_ONLYDIR)
	if err != nil {
		if errors.Is(err, unix.ENOSPC) {
			return nil, fmt.Errorf("inotify_add_watch %s: %w (see fs.inotify.max_user_watches)", dir, err)
		}
		return nil, fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	w := &inboxWatch{dir: dir, wd: wd, names: make(chan string, 16), lost: make(chan struct{}, 1),
		failed: make(chan error, 1), gone: make(chan struct{})}
	h.watches[wd] = append(h.watches[wd], w)
	return w, nil
}

// remove stops w; the directory's watch ends with its last subscriber.
func (h *inotifyHub) remove(w *inboxWatch) {
	w.once.Do(func() {
		close(w.gone)
		h.mu.Lock()
		defer h.mu.Unlock()
		ws := h.watches[w.wd]
		i := slices.Index(ws, w)
		if i < 0 {
			return // already dropped (IN_IGNORED, read error)
		}
		ws = slices.Delete(ws, i, i+1)
		if len(ws) > 0 {
			h.watches[w.wd] = ws
			return
		}
		delete(h.watches, w.wd)
		if h.file != nil {
			unix.InotifyRmWatch(h.fd, uint32(w.wd))
		}
	})
}

// subscribers returns the watches of wd; drop also forgets them.
func (h *inotifyHub) subscribers(wd int, drop bool) []*inboxWatch {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := slices.Clone(h.watches[wd])
	if drop {
		delete(h.watches, wd)
	}
	return ws
}

// read dispatches the events of f until a read fails, which ends every
// watch (each inbox falls back to its rescans; the next add starts a new
// instance).
func (h *inotifyHub) read(f *os.File) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.PathMax))
	for {
		n, err := f.Read(buf)
		if err != nil {
			h.mu.Lock()
			all := h.watches
			h.watches, h.file = map[int][]*inboxWatch{}, nil
			h.mu.Unlock()
			f.Close()
			for _, ws := range all {
				for _, w := range ws {
					fail(w, fmt.Errorf("reading inotify events: %w", err))
				}
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameLen := int(ev.Len)
			name := ""
			if nameLen > 0 && off+unix.SizeofInotifyEvent+nameLen <= n {
				name = strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+nameLen]), "\x00")
			}
			off += unix.SizeofInotifyEvent + nameLen
			switch {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0:
				h.mu.Lock()
				var all []*inboxWatch
				for _, ws := range h.watches {
					all = append(all, ws...)
				}
				log := h.log
				h.mu.Unlock()
				log.Warn("inbox: inotify dropped events (queue overflow, see fs.inotify.max_queued_events), listing every inbox", "inboxes", len(all))
				for _, w := range all {
					select {
					case w.lost <- struct{}{}:
					default:
					}
				}
			case ev.Mask&unix.IN_IGNORED != 0:
				// The kernel removed the watch: the directory was
				// deleted or its file system unmounted (after our own
				// remove, nobody is left to tell).
				for _, w := range h.subscribers(int(ev.Wd), true) {
					fail(w, fmt.Errorf("inbox directory %s removed or unmounted", w.dir))
				}
			case name != "":
				for _, w := range h.subscribers(int(ev.Wd), false) {
					select {
					case w.names <- name:
					case <-w.gone:
					}
				}
			}
		}
	}
}

func fail(w *inboxWatch, err error) {
	select {
	case w.failed <- err:
	default:
	}
}

// finish moves name out of the inbox according to the outcome.
func (in *inbox) finish(name string, res *api.DeployResult, err error, log *slog.Logger) {
	sub := inboxDone
	switch {
	case errors.Is(err, errSuperseded):
		sub = inboxSkipped
	case err != nil:
		sub = inboxFailed
	}
	dst := uniqueName(filepath.Join(in.dir, sub), name)
	if rerr := os.Rename(filepath.Join(in.dir, name), filepath.Join(in.dir, sub, dst)); rerr != nil {
		log.Error("inbox: cannot move the archive", "dir", in.dir, "file", name, "to", sub, "err", rerr)
		return
	}
	if _, serr := os.Stat(filepath.Join(in.dir, name+".sha256")); serr == nil {
		os.Rename(filepath.Join(in.dir, name+".sha256"), filepath.Join(in.dir, sub, dst+".sha256"))
	}
	var note string
	switch {
	case err != nil:
		note = fmt.Sprintf("%s %s: %v\n", time.Now().UTC().Format(time.RFC3339), name, err)
		if e := api.ErrorOf(err); e.Report != nil {
			note += "validation refused the release; see `releasectl history` and the report of the release\n"
		}
	case res != nil && res.AlreadyLive != "":
		note = fmt.Sprintf("%s %s: already live as %s (same content; nothing deployed)\n", time.Now().UTC().Format(time.RFC3339), name, res.AlreadyLive)
	case res != nil:
		note = fmt.Sprintf("%s %s: deployed as %s\n", time.Now().UTC().Format(time.RFC3339), name, res.Release.ID)
	}
	if note != "" {
		os.WriteFile(filepath.Join(in.dir, sub, dst+".log"), []byte(note), 0o640)
	}
	log.Info("inbox: archive processed", "dir", in.dir, "file", name, "moved_to", filepath.Join(sub, dst))
}

// errNotRegular is wrapped by the error of an inbox entry that is not a
// regular file.
var errNotRegular = errors.New("not a regular file: refusing (the inbox takes regular files only)")

// openEntry opens the inbox entry name for reading if it is a regular
// file: never through a symlink (O_NOFOLLOW), never a directory, FIFO or
// device (it is not even opened: Lstat first, then the opened file must
// be the same regular file). The deploy reads the returned descriptor,
// not the path again. The inbox is group-writable: a symlink renamed
// into it would otherwise make the daemon deploy what it points to (a
// mode-600 file, a mode-700 directory) with the daemon's rights.
func (in *inbox) openEntry(name string) (*os.File, error) {
	path := filepath.Join(in.dir, name)
	if err := in.checkEntry(name); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("inbox entry %s: %w", name, &os.PathError{Op: "open", Path: path, Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	ofi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !ofi.Mode().IsRegular() || !os.SameFile(fi, ofi) {
		f.Close()
		return nil, fmt.Errorf("inbox entry %s was replaced while it was opened (now %s), %w", name, describeType(path, ofi), errNotRegular)
	}
	return f, nil
}

// checkEntry returns the error openEntry would for an entry that is not
// a regular file, without opening it.
func (in *inbox) checkEntry(name string) error {
	path := filepath.Join(in.dir, name)
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("inbox entry %s is %s, %w", name, describeType(path, fi), errNotRegular)
	}
	return nil
}

// describeType says what a non-regular entry is: "a symlink (to X)", "a
// directory", "a named pipe", ...
func describeType(path string, fi os.FileInfo) string {
	m := fi.Mode()
	switch {
	case m&os.ModeSymlink != 0:
		if t, err := os.Readlink(path); err == nil {
			return "a symlink (to " + t + ")"
		}
		return "a symlink"
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m.IsRegular():
		return "a regular file"
	}
	return "a " + m.Type().String()
}

// uniqueName returns name, or name with a numeric suffix if dir has it.
func uniqueName(dir, name string) string {
	if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
		return name
	}
	for i := 1; ; i++ {
		n := fmt.Sprintf("%s.%d", name, i)
		if _, err := os.Lstat(filepath.Join(dir, n)); errors.Is(err, os.ErrNotExist) {
			return n
		}
	}
}

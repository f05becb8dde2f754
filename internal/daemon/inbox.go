package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	dir string

	mu     sync.Mutex
	file   *os.File // inotify descriptor, nil if not watching
	closed bool
}

// Subdirectories of an inbox.
const (
	inboxDone    = "done"
	inboxFailed  = "failed"
	inboxSkipped = "skipped"
)

func newInbox(dir string) (*inbox, error) {
	for _, sub := range []string{inboxDone, inboxFailed, inboxSkipped} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o770|os.ModeSetgid); err != nil {
			return nil, fmt.Errorf("inbox %s: %w", dir, err)
		}
	}
	return &inbox{dir: dir}, nil
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
// never deployed).
func (in *inbox) watch(out chan<- string) {
	defer close(out)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return
	}
	if _, err := unix.InotifyAddWatch(fd, in.dir, unix.IN_MOVED_TO|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		return
	}
	// A non-blocking descriptor goes through the runtime poller: Close
	// unblocks Read.
	f := os.NewFile(uintptr(fd), "inotify:"+in.dir)
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		f.Close()
		return
	}
	in.file = f
	in.mu.Unlock()
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.PathMax))
	for {
		n, err := f.Read(buf)
		if err != nil {
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
			if name != "" {
				out <- name
			}
		}
	}
}

func (in *inbox) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	if in.file != nil {
		in.file.Close()
		in.file = nil
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

package fsatomic

import (
	"errors"
	"io/fs"
	"syscall"
)

// SyncDir fsyncs the directory dir, so that the entries created, renamed
// or removed in it survive a crash. EINVAL and ENOTSUP (filesystems that
// cannot fsync a directory) are not errors, as in restic's local backend.
//
// It uses three system calls (open, fsync, close) and no *os.File, whose
// set-up would cost as many again: it is on the path of every switch of
// current.
func SyncDir(dir string) error {
	fd, err := ignoringEINTR(func() (int, error) {
		return syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	_, err = ignoringEINTR(func() (int, error) { return 0, syscall.Fsync(fd) })
	syscall.Close(fd)
	if err := tolerate(err); err != nil {
		return &fs.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// tolerate returns err, or nil if it says that the filesystem cannot fsync
// a directory.
func tolerate(err error) error {
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

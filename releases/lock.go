package releases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned (wrapped in a *LockedError) when another writer
// holds the store's lock.
var ErrLocked = errors.New("release store is locked by another writer")

// Holder describes the process that holds the lock.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
	Who     *Who      `json:"who,omitempty"`
	Op      string    `json:"op,omitempty"`
}

// LockedError names the holder of the lock.
type LockedError struct {
	Root   string
	Holder *Holder // nil if the holder did not (yet) describe itself
	Waited time.Duration
}

func (e *LockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: another writer holds the lock", e.Root)
	if h := e.Holder; h != nil {
		fmt.Fprintf(&b, " (pid %d, %q", h.PID, h.Command)
		if h.Op != "" {
			fmt.Fprintf(&b, ", %s", h.Op)
		}
		fmt.Fprintf(&b, ", since %s", h.Since.Format(time.RFC3339))
		if h.Who != nil && h.Who.User != "" {
			fmt.Fprintf(&b, ", by %s", h.Who.User)
		}
		b.WriteString(")")
	}
	if e.Waited > 0 {
		fmt.Fprintf(&b, "; waited %s", e.Waited.Round(time.Millisecond))
	} else {
		b.WriteString("; use --wait DURATION to wait for it")
	}
	return b.String()
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is the store's writer lock, held by one process (and one Store
// value in it) at a time. It is an flock(2) on state/lock, so it is
// released by the kernel when the process dies, however it dies.
type Lock struct {
	s   *Store
	f   *os.File
	who Who
}

type waitingKey struct{}

// WithWaiting returns a context with which Lock calls f once, when it
// starts waiting for another writer's lock (only with a wait > 0), with
// the holder (nil if it has not described itself yet). releasectl says
// on stderr that it waits, and for whom.
func WithWaiting(ctx context.Context, f func(*Holder)) context.Context {
	return context.WithValue(ctx, waitingKey{}, f)
}

// Lock takes the writer lock, waiting up to wait (0: fail at once) or until
// ctx is done. op describes the operation for a waiting writer's message.
//
// If the previous holder did not finish cleanly (it was killed, or the
// machine went down since), Lock first runs recovery and returns what it
// cleaned: a holder that finishes leaves "clean BOOT-ID" in the lock file
// as it unlocks, and anything else found there (the description of a
// holder that died holding the lock, or the marker of another boot, or
// nothing) makes the next writer recover. A clean store is not scanned.
func (s *Store) Lock(ctx context.Context, wait time.Duration, who Who, op string) (*Lock, []string, error) {
	f, err := os.OpenFile(s.state("lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open lock: %w", err)
	}
	start := time.Now()
	deadline := start.Add(wait)
	delay := time.Millisecond
	notify, _ := ctx.Value(waitingKey{}).(func(*Holder))
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, nil, fmt.Errorf("flock %s: %w", f.Name(), err)
		}
		if wait <= 0 || time.Now().After(deadline) {
			f.Close()
			le := &LockedError{Root: s.Root, Holder: s.LockHolder()}
			if wait > 0 {
				le.Waited = time.Since(start)
			}
			return nil, nil, le
		}
		if notify != nil {
			notify(s.LockHolder())
			notify = nil
		}
		// Polling flock with a capped backoff: flock has no timeout, and a
		// blocking flock in a goroutine could not be abandoned on ctx.
		select {
		case <-ctx.Done():
			f.Close()
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
	marker := cleanMarker()
	buf := make([]byte, len(marker)+1)
	n, _ := f.ReadAt(buf, 0)
	clean := marker != "" && string(buf[:n]) == marker
	h := Holder{PID: os.Getpid(), Command: commandLine(), Since: time.Now().UTC(), Who: &who, Op: op}
	b := append(h.appendJSON(make([]byte, 0, 512)), '\n')
	f.WriteAt(b, 0)
	f.Truncate(int64(len(b)))
	l := &Lock{s: s, f: f, who: who}
	s.mu.Lock()
	s.locked = l
	s.mu.Unlock()
	if clean {
		return l, nil, nil
	}
	cleaned, err := s.recover(who)
	if err != nil {
		l.Unlock()
		return nil, nil, fmt.Errorf("recovering %s: %w", s.Root, err)
	}
	return l, cleaned, nil
}

// Unlock releases the lock, leaving the clean marker for the next
// holder. It is safe to call more than once.
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	l.s.mu.Lock()
	if l.s.locked == l {
		l.s.locked = nil
	}
	l.s.mu.Unlock()
	m := cleanMarker()
	l.f.WriteAt([]byte(m), 0)
	l.f.Truncate(int64(len(m)))
	l.f.Close() // closing the last fd releases the flock
	l.f = nil
}

// abandon releases the lock as a killed process does: without the clean
// marker (tests).
func (l *Lock) abandon() {
	l.s.mu.Lock()
	l.s.locked = nil
	l.s.mu.Unlock()
	l.f.Close()
	l.f = nil
}

// cleanMarker is what a holder that finished writes in the lock file: it
// names this boot, so that a holder that finished before a crash of the
// machine (whose work may not all have reached the disk) does not count.
// It is "" (never clean) where the boot id cannot be read.
func cleanMarker() string {
	if id := bootID(); id != "" {
		return "clean " + id + "\n"
	}
	return ""
}

var bootID = sync.OnceValue(func() string {
	// Plain system calls: os.ReadFile's first use costs more than the read.
	fd, err := unix.Open("/proc/sys/kernel/random/boot_id", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	var b [64]byte
	n, err := unix.Read(fd, b[:])
	if err != nil || n <= 0 {
		return ""
	}
	return strings.TrimSpace(string(b[:n]))
})

func (s *Store) checkLocked() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked == nil {
		return ErrNotLocked
	}
	return nil
}

// LockHolder returns the description the current holder wrote, or nil if
// the lock is free or the holder has not described itself yet. It never
// blocks.
func (s *Store) LockHolder() *Holder {
	f, err := os.Open(s.state("lock"))
	if err != nil {
		return nil
	}
	defer f.Close()
	// If we can take a shared lock nobody holds the exclusive one.
	if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return nil
	}
	var h Holder
	b := make([]byte, 4096)
	n, _ := f.Read(b)
	if json.Unmarshal(b[:n], &h) != nil {
		return nil
	}
	return &h
}

func commandLine() string {
	s := strings.Join(os.Args, " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

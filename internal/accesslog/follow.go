package accesslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"
)

// MaxLine is the longest line Follow passes on; longer lines are skipped.
const MaxLine = 64 << 10

// rotateWait is how long the old file must stay the same size, once
// another file is at the path, before Follow switches to the new one.
const rotateWait = time.Second

// FollowOptions tune Follow.
type FollowOptions struct {
	// Parse turns a line (without its newline) into an Entry: ParseNginx or ParseCaddy.
	Parse func([]byte) (Entry, error)
	// FromStart reads the file that is there when Follow starts from its
	// beginning instead of its end. Files that replace it are always read from the start.
	FromStart bool
	// Poll is how often Follow looks for new lines, rotation and truncation
	// once it has read everything; 250ms when zero.
	Poll time.Duration
	// Logger receives the unparseable-line reports (at most one a minute)
	// and reopen notices; slog.Default() when nil.
	Logger *slog.Logger
}

// Follow reads the log at path from its current end (or from the start when
// o.FromStart), calling fn for every complete line that o.Parse accepts, in
// order, from the calling goroutine, until ctx ends; it then returns ctx's
// error. Unparseable lines are counted, logged at most once a minute, and
// skipped; a line longer than MaxLine is skipped; a partial last line is
// kept until its newline arrives.
//
// Rotation-safe: when path is renamed away and recreated (logrotate's
// create), or deleted and recreated, Follow reads on from the old file until
// it has not grown for a second (nginx writes to it until it reopens its
// logs on SIGUSR1, after the new file exists), then opens the new one from
// its start; when the file shrinks below what was read (copytruncate), it
// reads again from the start. Lines written
// to a copytruncate'd file between the copy and the truncation are lost, as
// for any follower. A missing file is waited for. Memory is one fixed buffer
// of 2×MaxLine; fn must not keep the Entry's backing line (it does not get it).
func Follow(ctx context.Context, path string, o FollowOptions, fn func(Entry)) error {
	if o.Parse == nil {
		return errors.New("accesslog.Follow: no Parse function")
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	f := &follower{path: path, o: o, fn: fn, buf: make([]byte, 2*MaxLine)}
	defer f.close()
	fromStart := o.FromStart
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		if f.file == nil {
			if err := f.open(fromStart); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			fromStart = true // every later file is new: read it whole
		}
		if f.file != nil {
			if err := f.drain(ctx); err != nil {
				return err
			}
			if err := f.checkRotation(); err != nil {
				return err
			}
		}
		f.reportBad(false)
		if f.file != nil && f.reopenNow {
			f.reopenNow = false
			continue
		}
		select {
		case <-ctx.Done():
			f.reportBad(true)
			return ctx.Err()
		case <-tick.C:
		}
	}
}

type follower struct {
	path string
	o    FollowOptions
	fn   func(Entry)

	file       *os.File
	info       os.FileInfo
	off        int64 // bytes of file consumed (read into buf)
	buf        []byte
	start, end int  // unconsumed bytes are buf[start:end]
	skipping   bool // inside a line longer than MaxLine
	reopenNow  bool

	// Another file is at the path since replacedAt; off was replacedOff then.
	replacedAt  time.Time
	replacedOff int64

	bad       int64 // unparseable lines since the last report
	badSample error
	lastBad   time.Time
}

func (f *follower) open(fromStart bool) error {
	file, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("accesslog: open %s: %w", f.path, err)
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return fmt.Errorf("accesslog: stat %s: %w", f.path, err)
	}
	if !info.Mode().IsRegular() {
		file.Close()
		return fmt.Errorf("accesslog: %s is not a regular file", f.path)
	}
	off := int64(0)
	if !fromStart {
		if off, err = file.Seek(0, io.SeekEnd); err != nil {
			file.Close()
			return fmt.Errorf("accesslog: seek %s: %w", f.path, err)
		}
	}
	f.file, f.info, f.off = file, info, off
	f.start, f.end, f.skipping = 0, 0, false
	f.replacedAt = time.Time{}
	return nil
}

func (f *follower) close() {
	if f.file != nil {
		f.file.Close()
		f.file = nil
	}
}

// drain reads the open file to its end, passing on complete lines.
func (f *follower) drain(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil // the caller's select returns ctx.Err()
		}
		if f.start > 0 && f.start == f.end {
			f.start, f.end = 0, 0
		}
		if f.end == len(f.buf) { // make room: move the partial line to the front
			n := copy(f.buf, f.buf[f.start:f.end])
			f.start, f.end = 0, n
		}
		n, err := f.file.Read(f.buf[f.end:])
		f.end += n
		f.off += int64(n)
		f.lines()
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("accesslog: read %s: %w", f.path, err)
		}
	}
}

// lines passes on the complete lines in buf[start:end].
func (f *follower) lines() {
	for {
		i := bytes.IndexByte(f.buf[f.start:f.end], '\n')
		if i < 0 {
			if f.end-f.start > MaxLine { // too long: drop what we have, skip to its newline
				f.skipping = true
				f.start, f.end = 0, 0
			}
			return
		}
		line := f.buf[f.start : f.start+i]
		f.start += i + 1
		if f.skipping {
			f.skipping = false
			f.bad++
			if f.badSample == nil {
				f.badSample = fmt.Errorf("line longer than %d bytes", MaxLine)
			}
			continue
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			continue
		}
		if len(line) > MaxLine {
			f.bad++
			if f.badSample == nil {
				f.badSample = fmt.Errorf("line longer than %d bytes", MaxLine)
			}
			continue
		}
		e, err := f.o.Parse(line)
		if err != nil {
			f.bad++
			if f.badSample == nil {
				f.badSample = err
			}
			continue
		}
		f.fn(e)
	}
}

// checkRotation, called at the end of the open file, looks at path: a
// different file (or none, then one later) means rotation; a smaller size
// means truncation.
func (f *follower) checkRotation() error {
	info, err := os.Stat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // deleted or renamed away: keep the old file until a new one appears
	case err != nil:
		return fmt.Errorf("accesslog: stat %s: %w", f.path, err)
	}
	if !os.SameFile(info, f.info) {
		// The old file may still be written to: switch once it has
		// stopped growing for rotateWait.
		if f.replacedAt.IsZero() || f.off != f.replacedOff {
			f.replacedAt, f.replacedOff = time.Now(), f.off
			return nil
		}
		if time.Since(f.replacedAt) < rotateWait {
			return nil
		}
		// Read what was appended to the old file since drain, then switch.
		if err := f.drainOld(); err != nil {
			return err
		}
		f.o.Logger.Info("access log replaced, reopening", "path", f.path)
		f.close()
		if err := f.open(true); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		f.reopenNow = f.file != nil
		return nil
	}
	cur, err := f.file.Stat()
	if err != nil {
		return fmt.Errorf("accesslog: stat %s: %w", f.path, err)
	}
	if cur.Size() < f.off {
		f.o.Logger.Info("access log truncated, reading from its start", "path", f.path)
		if _, err := f.file.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("accesslog: seek %s: %w", f.path, err)
		}
		f.off, f.start, f.end, f.skipping = 0, 0, 0, false
		f.reopenNow = true
	}
	return nil
}

func (f *follower) drainOld() error {
	return f.drain(context.Background())
}

// reportBad logs the unparseable lines counted since the last report, at
// most once a minute unless final.
func (f *follower) reportBad(final bool) {
	if f.bad == 0 || (!final && time.Since(f.lastBad) < time.Minute) {
		return
	}
	f.o.Logger.Warn("access log: skipped unparseable lines", "path", f.path, "lines", f.bad, "example", f.badSample)
	f.bad, f.badSample, f.lastBad = 0, nil, time.Now()
}

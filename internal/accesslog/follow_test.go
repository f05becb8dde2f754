package accesslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// logLine is the nginx log line of request i: path /p<i>, at t0 + i ms.
func logLine(i int) string {
	return fmt.Sprintf("%d.%03d\t200\t/p%d\t%d\t0.001\t/srv/www/releases/v3\n", t0.Unix()+int64(i/1000), i%1000, i, i)
}

func logLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(logLine(i))
	}
	return b.String()
}

// follow runs Follow on path with a 10ms poll until the test ends.
type follow struct {
	t    *testing.T
	path string
	log  testenv.SyncBuffer
	mu   sync.Mutex
	seen []Entry
	stop context.CancelFunc
	done chan error
}

func startFollow(t *testing.T, path string, fromStart bool) *follow {
	t.Helper()
	f := &follow{t: t, path: path, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	o := FollowOptions{Parse: ParseNginx, FromStart: fromStart, Poll: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&f.log, nil))}
	go func() {
		f.done <- Follow(ctx, path, o, func(e Entry) {
			f.mu.Lock()
			f.seen = append(f.seen, e)
			f.mu.Unlock()
		})
	}()
	t.Cleanup(func() { f.end() })
	return f
}

// end stops Follow and returns its error (context.Canceled when it ran
// until stopped).
func (f *follow) end() error {
	f.stop()
	select {
	case err := <-f.done:
		f.done <- err
		return err
	case <-time.After(10 * time.Second):
		f.t.Fatal("Follow did not return within 10s of its context's end")
		return nil
	}
}

// wait polls until Follow has passed on n entries (10s deadline) and
// returns them.
func (f *follow) wait(n int) []Entry {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		got := append([]Entry(nil), f.seen...)
		f.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case err := <-f.done:
			f.t.Fatalf("Follow returned %v after %d of %d entries", err, len(got), n)
		default:
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("after 10s Follow has passed on %d entries, want %d: %v\nlog:\n%s", len(got), n, paths(got), f.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expect waits for the entries of requests want..., exactly those, in order.
func (f *follow) expect(want ...int) {
	f.t.Helper()
	got := f.wait(len(want))
	if len(got) != len(want) {
		f.t.Fatalf("got %v, want %v", paths(got), want)
	}
	for i, e := range got {
		if e.Path != fmt.Sprintf("/p%d", want[i]) || e.Bytes != int64(want[i]) || e.Release != "v3" {
			f.t.Fatalf("entry %d is %+v; all: %v, want %v", i, e, paths(got), want)
		}
	}
}

func paths(es []Entry) []string {
	var p []string
	for _, e := range es {
		p = append(p, e.Path)
	}
	return p
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// appendFile appends s to path (creating it), as nginx does: O_APPEND.
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFollowAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, logLines(0, 3))
	f := startFollow(t, path, true)
	f.expect(seq(0, 3)...)
	appendFile(t, path, logLines(3, 5))
	f.expect(seq(0, 5)...)
	appendFile(t, path, logLines(5, 1005)) // many at once
	f.expect(seq(0, 1005)...)
	if err := f.end(); !errors.Is(err, context.Canceled) {
		t.Errorf("Follow returned %v, want context.Canceled", err)
	}
}

// Without FromStart, what the file holds when Follow opens it is skipped.
func TestFollowFromEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, logLines(0, 100))
	f := startFollow(t, path, false)
	// Follow opens the file at some point after starting: append a line
	// every few ms until one is seen. Lines 0-99 never are.
	deadline := time.Now().Add(10 * time.Second)
	for i := 100; ; i++ {
		appendFile(t, path, logLine(i))
		f.mu.Lock()
		n := len(f.seen)
		f.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no line seen in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, e := range f.wait(1) {
		if e.Bytes < 100 {
			t.Fatalf("line %d, written before Follow started, was passed on", e.Bytes)
		}
	}
}

func TestFollowPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l1 := logLine(1)
	// Cut line 1 inside its root, where its first part alone would parse
	// (as release "" of root /srv/www/rel): passing it on early would show.
	cut := strings.Index(l1, "eases/")
	appendFile(t, path, logLine(0)+l1[:cut])
	f := startFollow(t, path, true)
	f.expect(0)
	appendFile(t, path, l1[cut:len(l1)-1]) // all but the newline
	appendFile(t, path, "\n"+logLine(2))
	f.expect(0, 1, 2)
	if got := f.wait(3)[1].Root; got != "/srv/www/releases/v3" {
		t.Errorf("root of the completed line: %q", got)
	}
}

func TestFollowSkipsLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	// lineOf(n, i) is a valid line of request i, exactly n bytes long
	// without its newline: a long query makes up the length.
	lineOf := func(n, i int) string {
		l := strings.TrimSuffix(logLine(i), "\n")
		q := strings.Index(l, "\t0.001")
		q = strings.LastIndex(l[:q], "\t")
		pad := "?q=" + strings.Repeat("x", n-len(l)-3)
		return l[:q] + pad + l[q:] + "\n"
	}
	if got := len(lineOf(MaxLine, 1)); got != MaxLine+1 {
		t.Fatalf("lineOf: %d bytes", got)
	}
	f := startFollow(t, path, true)
	appendFile(t, path, logLine(0)+lineOf(MaxLine+1, 100)+logLine(1))
	f.expect(0, 1)
	// Longer than the whole buffer, written in pieces: the follower may
	// read between them.
	long := lineOf(3*MaxLine, 101)
	for i := 0; i < len(long); i += MaxLine / 3 {
		appendFile(t, path, long[i:min(i+MaxLine/3, len(long))])
	}
	appendFile(t, path, logLine(2)+lineOf(MaxLine, 3)+lineOf(MaxLine+1, 102)+logLine(4))
	f.expect(0, 1, 2, 3, 4)
	if err := f.end(); !errors.Is(err, context.Canceled) {
		t.Errorf("Follow returned %v", err)
	}
	if log := f.log.String(); !strings.Contains(log, "skipped unparseable lines") || !strings.Contains(log, "longer than") {
		t.Errorf("skipped lines not reported:\n%s", log)
	}
}

func TestFollowSkipsUnparseable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, logLine(0)+"garbage\n"+logLine(1)+"\n\n"+strings.TrimSuffix(logLine(2), "\n")+"\r\n"+
		"1700000000.000\t200\t/x\n"+`{"ts":1700000000,"status":200,"request":{"uri":"/"}}`+"\n"+logLine(3))
	f := startFollow(t, path, true)
	f.expect(0, 1, 2, 3)
	if err := f.end(); !errors.Is(err, context.Canceled) {
		t.Errorf("Follow returned %v", err)
	}
	// Three bad lines (empty lines are not counted), reported with an example.
	if log := f.log.String(); !strings.Contains(log, "skipped unparseable lines") || !strings.Contains(log, "lines=3") || !strings.Contains(log, "garbage") {
		t.Errorf("skipped lines not reported as 3 with an example:\n%s", log)
	}
}

// logrotate's create: the log is renamed away, nginx writes on to the old
// file until it reopens its logs, then to a new file at the path.
func TestFollowRenameAndCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write := func(s string) {
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	write(logLines(0, 3))
	f := startFollow(t, path, true)
	f.expect(0, 1, 2)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(logLines(3, 5)) // to the old file, after the rename
	appendFile(t, path, logLines(5, 8))
	w.Close()
	f.expect(seq(0, 8)...)
	appendFile(t, path, logLine(8)) // the new file is followed on
	f.expect(seq(0, 9)...)
	// Again, with the old file's last lines written after the new file
	// exists (nginx's workers reopen one by one).
	w, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "")
	write(logLine(9))
	w.Close()
	appendFile(t, path, logLine(10))
	// Line 9 went to the old file right after the new one was created:
	// well within the second Follow stays on the old file for.
	f.expect(seq(0, 11)...)
}

// The log is deleted, then created again.
func TestFollowDeleteAndCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, logLines(0, 3))
	f := startFollow(t, path, true)
	f.expect(0, 1, 2)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, logLines(3, 5))
	f.expect(seq(0, 5)...)
	// Deleted and left missing for a while: Follow waits.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".other", logLine(99))
	if err := os.Rename(path+".other", path+".x"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, logLine(5))
	f.expect(seq(0, 6)...)
}

// logrotate's copytruncate: the file is copied, then truncated to 0 while
// nginx keeps it open (O_APPEND: its next line goes to the new start).
func TestFollowCopyTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write := func(s string) {
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	write(logLines(0, 100))
	f := startFollow(t, path, true)
	f.expect(seq(0, 100)...)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	// Fewer bytes than were read: Follow sees the file shrink whenever
	// it looks, before or after this write.
	write(logLine(100))
	f.expect(seq(0, 101)...)
	write(logLines(101, 200))
	f.expect(seq(0, 200)...)
	// Twice.
	if err := w.Truncate(0); err != nil {
		t.Fatal(err)
	}
	write(logLine(200))
	f.expect(seq(0, 201)...)
}

// A log that does not exist yet is waited for, then read from its start.
func TestFollowMissingAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nginx")
	path := filepath.Join(dir, "access.log")
	f := startFollow(t, path, true)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, logLines(0, 2))
	f.expect(0, 1)
	appendFile(t, path, logLine(2))
	f.expect(0, 1, 2)
}

func TestFollowErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Follow(context.Background(), filepath.Join(dir, "x"), FollowOptions{}, func(Entry) {}); err == nil {
		t.Error("no error without a Parse function")
	}
	// A directory where the log should be: an error, not a wait.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Follow(ctx, dir, FollowOptions{Parse: ParseNginx, Poll: 10 * time.Millisecond}, func(Entry) {}); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("following a directory: %v", err)
	}
	// A cancelled context ends a wait for a missing file.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := Follow(ctx, filepath.Join(dir, "missing"), FollowOptions{Parse: ParseNginx}, func(Entry) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// selfInotify counts this process's inotify instances.
func selfInotify(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == "anon_inode:inotify" {
			n++
		}
	}
	return n
}

func recv(t *testing.T, ch <-chan string, what string) (string, bool) {
	t.Helper()
	select {
	case name, ok := <-ch:
		return name, ok
	case <-time.After(30 * time.Second): // a deadline, not a synchronisation
		t.Fatalf("nothing received for %s", what)
		return "", false
	}
}

// 300 inboxes (more than the default 128 inotify instances per user) are
// watched through one instance, each gets its own renames, and the
// directory of one shared by two inboxes (a reload) is still watched for
// the second after the first closes.
func TestInboxesShareOneInotify(t *testing.T) {
	const n = 300
	dir := t.TempDir()
	var ins []*inbox
	var outs []chan string
	for i := range n {
		in, err := newInbox(filepath.Join(dir, fmt.Sprint(i)), fmt.Sprint("site", i), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		out := make(chan string, 4)
		go in.watch(out)
		ins, outs = append(ins, in), append(outs, out)
	}
	// Watches are added asynchronously: wait until all are registered.
	deadline := time.Now().Add(30 * time.Second)
	for {
		inotify.mu.Lock()
		k := 0
		for _, ws := range inotify.watches {
			k += len(ws)
		}
		inotify.mu.Unlock()
		if k >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d inboxes watched", k, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := selfInotify(t); got != 1 {
		t.Fatalf("%d inotify instances for %d inboxes, want 1", got, n)
	}
	for i := n - 1; i >= 0; i -= 37 {
		tmp := filepath.Join(dir, fmt.Sprintf("x%d.tar", i))
		os.WriteFile(tmp, nil, 0o644)
		if err := os.Rename(tmp, filepath.Join(ins[i].dir, "a.tar")); err != nil {
			t.Fatal(err)
		}
		if name, ok := recv(t, outs[i], "a rename"); !ok || name != "a.tar" {
			t.Fatalf("inbox %d: got %q, %v", i, name, ok)
		}
	}
	// A second inbox on directory 0, then the first closes.
	again, _ := newInbox(ins[0].dir, "site0-reloaded", slog.New(slog.DiscardHandler))
	out2 := make(chan string, 4)
	go again.watch(out2)
	deadline = time.Now().Add(30 * time.Second)
	for {
		again.mu.Lock()
		ok := again.sub != nil
		again.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second inbox on the same directory not watched")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, in := range ins {
		in.close()
	}
	for i, out := range outs {
		// A name may come twice (the listing once the watch is in place).
		for {
			name, ok := recv(t, out, "close")
			if !ok {
				break
			}
			if name != "a.tar" {
				t.Fatalf("inbox %d: unexpected %q", i, name)
			}
		}
	}
	tmp := filepath.Join(dir, "y.tar")
	os.WriteFile(tmp, nil, 0o644)
	if err := os.Rename(tmp, filepath.Join(again.dir, "b.tar")); err != nil {
		t.Fatal(err)
	}
	if name, ok := recv(t, out2, "a rename after the first inbox closed"); !ok || name != "b.tar" {
		t.Fatalf("reloaded inbox: got %q, %v", name, ok)
	}
	again.close()
}

// An inbox whose directory is removed stops being watched with a warning
// naming the site and why; one that cannot be watched at all warns too.
func TestInboxFallbackWarns(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	dir := filepath.Join(t.TempDir(), "inbox")
	in, err := newInbox(dir, "www", log)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 4)
	go in.watch(out)
	deadline := time.Now().Add(30 * time.Second)
	for {
		in.mu.Lock()
		ok := in.sub != nil
		in.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("inbox not watched")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, ok := recv(t, out, "the end of the watch"); ok {
		t.Fatal("watch went on after its directory was removed")
	}
	s := logs.String()
	if !strings.Contains(s, "level=WARN") || !strings.Contains(s, "falling back to polling") || !strings.Contains(s, "site=www") || !strings.Contains(s, "removed") {
		t.Fatalf("log = %q, want a warning naming the site and why", s)
	}
	in.close()

	// A path that is not a directory cannot be watched (IN_ONLYDIR).
	logs = lockedBuffer{}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	bad := &inbox{dir: file, site: "docs", log: log}
	out = make(chan string, 1)
	go bad.watch(out)
	if _, ok := recv(t, out, "the failed watch"); ok {
		t.Fatal("watch of a file did not stop")
	}
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "site=docs") || !strings.Contains(s, "not a directory") {
		t.Fatalf("log = %q, want a warning naming the site and why", s)
	}
}

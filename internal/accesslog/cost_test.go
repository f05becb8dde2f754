package accesslog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/test/loadtest"
)

// Environment of the follower child of TestFollowCost.
const followerEnv = "ACCESSLOG_FOLLOWER_LOG"

// TestFollowCost measures what following nginx's access log costs the
// agent, against what serving the same requests costs nginx (the issue's
// `make bench` figure). Run with ACCESSLOG_BENCH=1 (scripts/bench-accesslog.sh).
//
// nginx (one worker) serves a small page with the shipped log format and a
// server block like nginx-site-watch.conf; wrk loads it for 10 s. The
// follower is Follow + Window exactly as the daemon calls them (default
// poll, ParseNginx, Window.Add for every entry, Counts once a second), run
// in a child process (this test binary, TestFollowCostFollower) so that its
// CPU time is its own: getrusage(RUSAGE_SELF) in the child, user + system,
// Go runtime and GC included, from just before wrk starts until it has
// passed on every line in the log. nginx's CPU is utime + stime of its
// master and worker from /proc/PID/stat over the wrk run. The follower's
// idle cost (nothing logged) is measured for 2 s before and reported apart,
// not subtracted.
func TestFollowCost(t *testing.T) {
	if os.Getenv("ACCESSLOG_BENCH") != "1" {
		t.Skip("a benchmark of about 20 s with nginx and wrk: set ACCESSLOG_BENCH=1 (scripts/bench-accesslog.sh)")
	}
	wrk := "/usr/bin/wrk"
	if _, err := os.Stat(wrk); err != nil {
		wrk = testenv.Command(t, "wrk")
	}
	const (
		threads, conns = 1, 10
		duration       = 10 * time.Second
		rate           = 20000 // requests/s of the figure
	)
	root := t.TempDir()
	page := "<!doctype html><title>v3</title><p>" + strings.Repeat("release-agent ", 60) + "</p>\n"
	releaseRoot(t, root, "v3", map[string]string{"index.html": page})
	logPath := filepath.Join(t.TempDir(), "access.log")
	n := startWatchedNginx(t, root, logPath, 1)

	child := startFollower(t, logPath)
	child.query()
	time.Sleep(time.Second) // past the child's start-up: measuring, not waiting
	c0 := child.query()
	time.Sleep(2 * time.Second) // the idle follower
	c1 := child.query()
	idle := float64(c1.cpu-c0.cpu) / float64(c1.at.Sub(c0.at).Seconds()) // µs/s

	nginx0 := procCPU(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The daemon reads the window every second or so: so does the child
	// when asked, once a second during the run.
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				child.query()
			}
		}
	}()
	res, err := loadtest.RunWrk(ctx, wrk, n.URL+"/", threads, conns, duration)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	nginx1 := procCPU(t, n)
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := int64(bytes.Count(raw, []byte("\n")))
	raw = nil
	deadline := time.Now().Add(60 * time.Second)
	var c2 sample
	for {
		c2 = child.query()
		if c2.entries >= lines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower passed on %d of %d lines in 60 s", c2.entries, lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c2.entries != lines || res.Non2xx3xx != 0 || res.SocketErrors != 0 {
		t.Fatalf("%d lines, %d entries; wrk: %+v", lines, c2.entries, res)
	}
	followUS := float64(c2.cpu - c1.cpu)
	nginxUS := (nginx1 - nginx0).Seconds() * 1e6
	perFollow, perNginx := followUS/float64(lines), nginxUS/float64(lines)
	ratio := perFollow / perNginx
	share := perFollow * rate / 1e6
	verdict := "meets"
	if ratio >= 1 {
		verdict = "**misses**"
	}
	fmt.Printf(`
## Access log following

`+"`TestFollowCost`"+` (internal/accesslog): nginx, one worker, with the shipped `+"`release_agent`"+` log format
and a server block like nginx-site-watch.conf (cohort cookie, root through cohorts/NN → current →
releases/v3), served a %d-byte page to wrk (%d thread, %d connections, %s on loopback, %.0f req/s).
The follower is Follow + Window as the daemon runs them (ParseNginx, default %s poll, Window.Add per
line, Counts once a second) in a child process; its CPU is its getrusage (user + system, Go runtime
included) from the start of wrk until it had passed on every line of the log. nginx's CPU is utime +
stime of its master and worker (/proc/PID/stat) over the wrk run. Same requests, same run.

| figure | value |
|---|---|
| requests (log lines, all read by the follower) | %d |
| nginx CPU per request | %.2f µs |
| follower CPU per request | %.2f µs |
| follower / nginx | **%.3f** |
| follower's share of one core at 20,000 req/s | **%.1f%%** |
| follower idle (no requests, %s poll) | %.0f µs CPU per second |
| follower peak RSS | %.1f MB |

Targets: the follower costs less than nginx itself (ratio < 1): %s (%.3f).
`, len(page), threads, conns, duration, res.RequestsSec, 250*time.Millisecond,
		lines, perNginx, perFollow, ratio, 100*share, 250*time.Millisecond, idle, float64(c2.maxRSSKB)/1024,
		verdict, ratio)
}

// TestFollowCostFollower is the follower process of TestFollowCost; it
// runs only as that child. Each line on stdin asks for a sample, answered on
// stdout as "sample ENTRIES CPU_µs MAXRSS_KB"; EOF ends it.
func TestFollowCostFollower(t *testing.T) {
	path := os.Getenv(followerEnv)
	if path == "" {
		t.Skip("the child process of TestFollowCost")
	}
	w := NewWindow(5 * time.Minute)
	var entries atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, path, FollowOptions{Parse: ParseNginx, FromStart: true}, func(e Entry) {
			w.Add(e)
			entries.Add(1)
		})
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		now := time.Now()
		w.Counts("v3", now.Add(-time.Minute), now)
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		cpu := ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
		fmt.Printf("sample %d %d %d\n", entries.Load(), cpu, ru.Maxrss)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatal(err)
	}
}

type sample struct {
	entries, cpu, maxRSSKB int64
	at                     time.Time
}

type followerProc struct {
	t     *testing.T
	in    io.WriteCloser
	out   *bufio.Scanner
	query func() sample
}

// startFollower starts this test binary as TestFollowCostFollower on logPath.
func startFollower(t *testing.T, logPath string) *followerProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFollowCostFollower$", "-test.count=1")
	cmd.Env = append(os.Environ(), followerEnv+"="+logPath)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	f := &followerProc{t: t, in: in, out: bufio.NewScanner(out)}
	queries := make(chan chan sample)
	go func() {
		for reply := range queries {
			if _, err := io.WriteString(in, "\n"); err != nil {
				close(reply)
				continue
			}
			for f.out.Scan() {
				var s sample
				if _, err := fmt.Sscanf(f.out.Text(), "sample %d %d %d", &s.entries, &s.cpu, &s.maxRSSKB); err == nil {
					s.at = time.Now()
					reply <- s
					break
				}
			}
			close(reply)
		}
	}()
	t.Cleanup(func() { close(queries) })
	f.query = func() sample {
		reply := make(chan sample, 1)
		queries <- reply
		s, ok := <-reply
		if !ok {
			t.Error("the follower process ended")
			return sample{}
		}
		return s
	}
	return f
}

// procCPU returns the CPU time (utime + stime) of nginx's master and its
// children, from /proc/PID/stat.
func procCPU(t *testing.T, n *loadtest.Nginx) time.Duration {
	t.Helper()
	pidData, err := os.ReadFile(filepath.Join(n.Dir, "nginx.pid"))
	if err != nil {
		t.Fatal(err)
	}
	master := strings.TrimSpace(string(pidData))
	procs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var ticks int64
	found := 0
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited
		}
		// pid (comm) state ppid ...: comm may hold spaces; fields after
		// the last ')' are state(3) ppid(4) ... utime(14) stime(15).
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		pid := string(bytes.Fields(b[:i])[0])
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 || (pid != master && f[1] != master) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
		found++
	}
	if found < 2 {
		t.Fatalf("found %d nginx processes under master %s", found, master)
	}
	// USER_HZ, the unit of utime and stime, is 100 on Linux.
	return time.Duration(ticks) * 10 * time.Millisecond
}

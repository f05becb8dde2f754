package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/daemon/trigger"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

// Timing of the work loops.
var (
	// heartbeat is how often an idle loop turns (and stamps its beat).
	heartbeat = 2 * time.Second
	// jobTimeout bounds one deploy started by a trigger.
	jobTimeout = time.Hour
	// lockWait is how long a triggered deploy waits for the store's lock.
	lockWait = 10 * time.Minute
	// rescan is how often the inbox is listed in case an event was lost.
	rescan = 30 * time.Second
)

// job is one deploy a trigger asked for.
type job struct {
	source string
	what   string // for STATUS= and logs: "inbox site.tar.gz"
	who    releases.Who
	// open, if set, opens the source (an inbox file): the deploy reads
	// that descriptor, and an error fails the job without deploying.
	open func() (*os.File, error)
	// done is called with the outcome (nil, or the error); skipped when a
	// newer job replaced this one before it ran.
	done    func(res *api.DeployResult, err error)
	skipped func(by *job)
	// queue names the trigger that made the job ("inbox", "s3"): a job
	// replaces only a pending job of its own queue, so one trigger's jobs
	// (a retry of a failing S3 artifact) never supersede another's.
	queue string
}

// worker is the work loop of one site: one deploy at a time; jobs that
// arrive while one runs are coalesced per queue (the newest replaces the
// pending one of the same queue) and run in the order their queues first
// asked.
type worker struct {
	d    *Daemon
	site *config.Site

	mu      sync.Mutex
	pending []*job // at most one per queue, oldest first
	wake    chan struct{}

	beat      atomic.Int64 // unix nanoseconds of the last turn
	busySince atomic.Int64 // unix nanoseconds, 0 when idle

	startOnce sync.Once
	stopOnce  sync.Once
	quit      chan struct{}
	done      chan struct{}

	inbox     *inbox
	hook      *trigger.Webhook
	triggers  []trigger.Trigger
	tokenFile string
	// s3 is the client of the listen and poll triggers (nil if none).
	s3 *s3.Client
	// watch is the site's [site.watch], nil without one (watch.go).
	watch *siteWatch
	// giveUp is what the S3 triggers last gave up on (see gaveUp).
	giveUp atomic.Pointer[api.GiveUp]
}

// newWorker makes the work loop of s; its S3 triggers use cl.
func newWorker(d *Daemon, s *config.Site, tokenFile string, cl *s3.Client) (*worker, error) {
	w := &worker{d: d, site: s, tokenFile: tokenFile, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	if s.Triggers.Inbox != "" {
		in, err := newInbox(s.Triggers.Inbox, s.Name, d.log)
		if err != nil {
			return nil, err
		}
		w.inbox = in
	}
	if err := w.startHook(cl); err != nil {
		return nil, err
	}
	if s.Watch != nil {
		w.watch = newSiteWatch(d, s)
	}
	w.beat.Store(time.Now().UnixNano())
	return w, nil
}

func (w *worker) start() {
	w.startOnce.Do(func() {
		go w.loop()
		if w.inbox != nil {
			go w.watchInbox()
		}
		if w.site.Fleet != nil {
			go w.followFleet()
		}
		if w.watch != nil {
			ctx, _ := w.context()
			w.watch.start(ctx)
		}
		w.runHook()
	})
}

// context returns a context that ends when the worker stops (a reload
// that remade it) or the daemon shuts down, for the worker's goroutines.
func (w *worker) context() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(w.d.ctx)
	go func() {
		select {
		case <-w.quit:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}

// stop ends the loop after the job it is running (the daemon's context
// cancels that job on shutdown) and waits for it.
func (w *worker) stop() {
	w.stopOnce.Do(func() {
		close(w.quit)
		if w.inbox != nil {
			w.inbox.close()
		}
	})
	w.startOnce.Do(func() { close(w.done) }) // never started
	<-w.done
}

// alive reports whether the loop turned within interval, or is running a
// deploy that has not outlived jobTimeout (after which its context is
// cancelled and the loop must turn again).
func (w *worker) alive(interval time.Duration) bool {
	now := time.Now()
	if b := w.busySince.Load(); b != 0 {
		return now.Sub(time.Unix(0, b)) < jobTimeout+interval
	}
	return now.Sub(time.Unix(0, w.beat.Load())) < interval
}

// enqueue makes j the pending job of its queue, replacing (and skipping)
// the one pending there, if any, in its place in line.
func (w *worker) enqueue(j *job) {
	w.mu.Lock()
	var old *job
	for i, p := range w.pending {
		if p.queue == j.queue {
			old, w.pending[i] = p, j
			break
		}
	}
	if old == nil {
		w.pending = append(w.pending, j)
	}
	w.mu.Unlock()
	if old != nil && old.skipped != nil {
		old.skipped(j)
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take removes and returns the oldest pending job (nil if none).
func (w *worker) take() *job {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	j := w.pending[0]
	w.pending = slices.Delete(w.pending, 0, 1)
	return j
}

func (w *worker) loop() {
	defer close(w.done)
	t := time.NewTicker(w.d.heartbeat)
	defer t.Stop()
	for {
		w.beat.Store(time.Now().UnixNano())
		select {
		case <-w.d.ctx.Done():
			return
		case <-w.quit:
			return
		case <-w.wake:
		case <-t.C:
			continue
		}
		for j := w.take(); j != nil; j = w.take() {
			w.run(j)
			if w.stopping() {
				break
			}
		}
	}
}

// stopping reports whether the daemon shuts down or the loop is stopped.
func (w *worker) stopping() bool {
	select {
	case <-w.quit:
		return true
	default:
		return w.d.ctx.Err() != nil
	}
}

// run runs one job. A panic anywhere in it (outside the pipeline, which
// records its own, see runDeploy) is recovered: logged with its stack, the
// job fails with an error wrapping deploy.ErrPanic, and the loop goes on.
func (w *worker) run(j *job) {
	w.busySince.Store(time.Now().UnixNano())
	defer w.busySince.Store(0)
	finished := false
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		pe := &deploy.PanicError{Value: v, Stack: debug.Stack()}
		w.d.log.Error("triggered deploy panicked", "site", w.site.Name, "what", j.what, "err", pe, "stack", string(pe.Stack))
		if j.done != nil && !finished {
			j.done(nil, pe)
		}
	}()
	ctx, cancel := context.WithTimeout(w.d.ctx, jobTimeout)
	defer cancel()
	ctx = service.WithWho(ctx, j.who)
	if j.open != nil {
		f, err := j.open()
		if err != nil {
			w.d.log.Error("triggered deploy refused", "site", w.site.Name, "what", j.what, "err", err)
			if j.done != nil {
				j.done(nil, err)
			}
			return
		}
		defer f.Close()
		ctx = service.WithSourceFile(ctx, f)
	}
	w.d.log.Info("deploy triggered", "site", w.site.Name, "trigger", strings.TrimPrefix(j.who.Via, "trigger:"), "what", j.what, "source", j.source)
	start := time.Now()
	res, err := w.d.deploy(ctx, w.site.Name, j.what, api.DeployRequest{
		Target: api.Target{Site: w.site.Name}, Source: j.source, Activate: true, Wait: lockWait,
	})
	if err != nil {
		w.d.log.Error("triggered deploy failed", "site", w.site.Name, "what", j.what, "err", err, "duration", time.Since(start).Round(time.Millisecond))
	} else {
		id := res.Release.ID
		if res.AlreadyLive != "" {
			id = res.AlreadyLive + " (already live)"
		}
		w.d.log.Info("triggered deploy done", "site", w.site.Name, "what", j.what, "release", id, "duration", time.Since(start).Round(time.Millisecond))
	}
	finished = true
	if j.done != nil {
		j.done(res, err)
	}
}

// runDeploy runs one deploy of site on the current state's service. The
// pipeline turns a panic in a fetch or stage into a failed release (see
// deploy.PanicError); runDeploy logs that stack, and recovers a panic
// anywhere else in the deploy (activation, pruning) into an error
// wrapping deploy.ErrPanic, so that no deploy, triggered or asked over
// the control socket, takes the daemon down. The store's lock is released
// by the pipeline's own defer either way.
func (d *Daemon) runDeploy(ctx context.Context, site string, req api.DeployRequest) (res *api.DeployResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nil, &deploy.PanicError{Value: v, Stack: debug.Stack()}
		}
		if pe, ok := errors.AsType[*deploy.PanicError](err); ok {
			d.log.Error("deploy panicked (a bug; please report it)", "site", site, "err", pe, "stack", string(pe.Stack))
		}
	}()
	return d.cur.Load().local.Deploy(ctx, req)
}

// archiveSuffixes are the inbox files that are deployed.
var archiveSuffixes = []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".zip"}

func isArchive(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// watchInbox turns archives renamed into the inbox into jobs: at start
// (what arrived while the daemon was down, oldest first), on every
// IN_MOVED_TO event, and every rescan as a safety net.
func (w *worker) watchInbox() {
	in := w.inbox
	seen := map[string]bool{} // queued or running, by name
	var mu sync.Mutex
	add := func(name string) {
		mu.Lock()
		if seen[name] {
			mu.Unlock()
			return
		}
		seen[name] = true
		mu.Unlock()
		path := filepath.Join(in.dir, name)
		// Refused at once, so that it never supersedes a pending archive;
		// the job checks again when it opens the file.
		if err := in.checkEntry(name); err != nil {
			mu.Lock()
			delete(seen, name)
			mu.Unlock()
			if !errors.Is(err, os.ErrNotExist) {
				w.d.log.Error("inbox: entry refused", "site", w.site.Name, "dir", in.dir, "file", name, "err", err)
				in.finish(name, nil, err, w.d.log)
			}
			return
		}
		who := releases.Who{Via: "trigger:inbox", UID: -1}
		if fi, err := os.Lstat(path); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				who.UID = int(st.Uid)
				if u, err := user.LookupId(strconv.Itoa(who.UID)); err == nil {
					who.User = u.Username
				}
			}
		}
		forget := func() {
			mu.Lock()
			delete(seen, name)
			mu.Unlock()
		}
		w.enqueue(&job{source: path, what: "inbox " + name, who: who, queue: "inbox",
			open: func() (*os.File, error) { return in.openEntry(name) },
			done: func(res *api.DeployResult, err error) {
				defer forget()
				if errors.Is(err, context.Canceled) && w.d.ctx.Err() != nil {
					return // shutdown: deploy it again at the next start
				}
				in.finish(name, res, err, w.d.log)
			},
			skipped: func(by *job) {
				defer forget()
				in.finish(name, nil, fmt.Errorf("%w by %s", errSuperseded, by.what), w.d.log)
			},
		})
	}
	scan := func() {
		names, err := in.list()
		if err != nil {
			w.d.log.Error("inbox: listing failed", "site", w.site.Name, "dir", in.dir, "err", err)
			return
		}
		for _, n := range names {
			add(n)
		}
	}
	scan()
	events := make(chan string, 16)
	go in.watch(events)
	t := time.NewTicker(rescan)
	defer t.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-w.d.ctx.Done():
			return
		case name, ok := <-events:
			if !ok {
				// inotify failed or closed: rely on rescans.
				events = nil
				continue
			}
			if isArchive(name) {
				add(name)
			}
		case <-t.C:
			scan()
		}
	}
}

var errSuperseded = errors.New("superseded")

// sortByMtime orders names (in dir) oldest first.
func sortByMtime(dir string, names []string) {
	mt := map[string]time.Time{}
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil {
			mt[n] = fi.ModTime()
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return mt[names[i]].Before(mt[names[j]]) })
}

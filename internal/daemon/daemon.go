// Package daemon is release-agent: it loads the configuration, recovers
// every site's store, serves the control API, runs one work loop per site
// fed by triggers (inbox directory, webhook), checks health after each swap
// it makes and rolls back on failure, and talks to systemd.
//
// # systemd
//
// With NOTIFY_SOCKET set (Type=notify) the daemon sends READY=1 once every
// store is recovered and the configuration loaded, STATUS= with each site's
// live release and what is in progress whenever that changes, WATCHDOG=1
// only while every site's work loop is alive (each loop stamps a heartbeat
// on every turn; a loop stuck outside a deploy stops the pings and systemd
// restarts the service), RELOADING=1 and READY=1 around a reload, and
// STOPPING=1 on shutdown. Listeners passed by socket activation are used by
// name: "control" (the control socket), "webhook" and "metrics"; without
// them the daemon listens itself on the configured addresses.
//
// # Reload
//
// SIGHUP reloads the configuration atomically: the new file is loaded and
// every site's root opened before anything changes; any error rejects the
// reload (logged, and in STATUS=) and the old configuration keeps running.
// Sites whose settings did not change keep their work loop; a changed or
// removed site's loop finishes its current deploy and stops. Settings of
// [daemon] (socket paths, listen addresses) need a restart.
//
// # S3
//
// The [s3] section is mapped to one s3.Client, shared by every deploy
// (service.Local.Sources) and every listen and poll trigger. A reload
// makes a new client only when [s3] changed, and then every key takes the
// value of the new file, its default if removed; a site whose triggers
// used the old client gets a new work loop. The daemon sets no
// environment variable and reads no AWS_ENDPOINT_URL*/AWS_REGION; without
// credentials_file, credentials come from the standard chain.
//
// # Shutdown
//
// Cancelling Run's context (SIGTERM, SIGINT) cancels deploys in progress:
// the pipeline removes their staging trees and current is left as it was.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/daemon/control"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/internal/notify"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

// Options configure Run.
type Options struct {
	// ConfigPath is the configuration file (config.DefaultPath if "").
	ConfigPath string
	// Version is reported by the control API.
	Version string
	// Log is the logger (slog.Default() if nil).
	Log *slog.Logger
	// Notify sends one sd_notify message; nil means the real sd_notify
	// (a no-op without NOTIFY_SOCKET).
	Notify func(state string) error
	// Listeners by name, as socket activation passes them; nil means take
	// them from the environment (LISTEN_FDS, LISTEN_FDNAMES).
	Listeners map[string][]net.Listener
	// Signals delivers reload requests; nil means SIGHUP.
	Reload <-chan os.Signal
}

// Daemon is a running release-agent. It is created by Run.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	version string
	metrics *metrics

	cur      atomic.Pointer[state]
	reloadMu sync.Mutex

	statusMu   sync.Mutex
	lastStatus string
	// progress holds what each site is doing, by site name (survives
	// reloads): "" idle.
	progress sync.Map // string → *siteProgress

	ctx context.Context // cancelled on shutdown
	// heartbeat is how often an idle work loop turns: often enough for
	// the watchdog interval.
	heartbeat time.Duration
}

// state is one loaded configuration and what runs for it.
type state struct {
	cfg     *config.Config
	local   *service.Local
	workers map[string]*worker
	// s3 is the one S3 client of this configuration, shared by every
	// deploy (local.Sources) and every S3 trigger.
	s3 *s3.Client
	// notifier sends this configuration's [[notify]] documents (nil
	// without any); replaced on reload.
	notifier *notify.Notifier
}

type siteProgress struct {
	mu    sync.Mutex
	doing string
}

func (d *Daemon) progressOf(site string) *siteProgress {
	p, _ := d.progress.LoadOrStore(site, &siteProgress{})
	return p.(*siteProgress)
}

// ErrConfig wraps a configuration that cannot be used at start.
var ErrConfig = errors.New("bad configuration")

// Run runs the daemon until ctx is cancelled (then it returns nil after a
// clean shutdown) or it cannot start (bad configuration, a listener that
// cannot be opened).
func Run(ctx context.Context, opts Options) error {
	if opts.ConfigPath == "" {
		opts.ConfigPath = config.DefaultPath
	}
	d := &Daemon{opts: opts, log: opts.Log, version: opts.Version}
	if d.log == nil {
		d.log = slog.Default()
	}
	if opts.Notify == nil {
		d.opts.Notify = func(s string) error { _, err := sd.SdNotify(false, s); return err }
	}
	cfg, err := config.LoadHost(opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	lns := opts.Listeners
	if lns == nil {
		if lns, err = activation.ListenersWithNames(); err != nil {
			return fmt.Errorf("socket activation: %w", err)
		}
	}
	d.metrics = newMetrics()
	d.metrics.setVersion(d.version)
	wdog, _ := sd.SdWatchdogEnabled(false)
	d.heartbeat = heartbeat
	if wdog > 0 && wdog/4 < d.heartbeat {
		d.heartbeat = wdog / 4
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ctx = ctx

	st, err := d.build(cfg, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	// Recovery: every store's leftovers of interrupted runs are removed
	// before READY=1.
	for _, s := range cfg.Sites {
		if err := d.recover(ctx, st.local, s.Name); err != nil {
			return fmt.Errorf("site %s: recovery: %w", s.Name, err)
		}
	}
	d.cur.Store(st)

	var wg sync.WaitGroup
	serveErr := make(chan error, 3)

	// Control API.
	sock := cfg.Daemon.ControlSocket
	if sock == "" {
		sock = client.DefaultSocket
	}
	ctl, err := d.listener(lns, "control", "unix", sock, os.FileMode(cfg.Daemon.ControlSocketMode))
	if err != nil {
		return err
	}
	srv := &control.Server{Service: &daemonService{d: d}, WriteGroup: cfg.Daemon.ControlGroup, Version: d.version,
		Sites: d.sites, Log: d.log, Context: ctx}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, ctl, 30*time.Second); err != nil {
			serveErr <- fmt.Errorf("control socket: %w", err)
		}
	}()

	// Webhook listener.
	if wl, err := d.listener(lns, "webhook", "tcp", cfg.Daemon.WebhookListen, 0); err != nil {
		return err
	} else if wl != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveHTTP(ctx, wl, http.HandlerFunc(d.serveHook)); err != nil {
				serveErr <- fmt.Errorf("webhook listener: %w", err)
			}
		}()
	}
	// Metrics.
	if ml, err := d.listener(lns, "metrics", "tcp", cfg.Daemon.MetricsListen, 0); err != nil {
		return err
	} else if ml != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveHTTP(ctx, ml, d.metrics.handler()); err != nil {
				serveErr <- fmt.Errorf("metrics listener: %w", err)
			}
		}()
	}

	for _, w := range st.workers {
		w.start()
	}
	d.updateMetricsLive(st)
	d.notify("READY=1")
	d.log.Info("release-agent ready", "config", cfg.Path, "sites", len(cfg.Sites), "version", d.version)
	d.sendStatus()

	reload := opts.Reload
	if reload == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
		reload = ch
	}
	var wdTick <-chan time.Time
	if wdog > 0 {
		t := time.NewTicker(wdog / 3)
		defer t.Stop()
		wdTick = t.C
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			runErr = err
			break loop
		case <-reload:
			d.Reload()
		case <-wdTick:
			if st := d.cur.Load(); st.alive(wdog) {
				d.notify("WATCHDOG=1")
			} else {
				d.log.Error("a site's work loop has not turned within the watchdog interval; not pinging the watchdog", "interval", wdog)
			}
		}
	}
	d.notify("STOPPING=1")
	d.log.Info("release-agent stopping")
	cancel()
	for _, w := range d.cur.Load().workers {
		w.stop()
	}
	wg.Wait()
	closeNotifier(d.cur.Load().notifier, true)
	return runErr
}

// Reload loads the configuration again and applies it, or keeps the
// running one if the new one is bad. It reports the error it rejected.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	defer d.notify("READY=1")
	old := d.cur.Load()
	cfg, err := config.LoadHost(d.opts.ConfigPath)
	if err == nil {
		var st *state
		if st, err = d.build(cfg, old); err == nil {
			if !reflect.DeepEqual(cfg.Daemon, old.cfg.Daemon) {
				d.log.Warn("reload: [daemon] settings changed; they take effect at the next restart")
			}
			d.cur.Store(st)
			closeNotifier(old.notifier, false)
			for name, w := range old.workers {
				if st.workers[name] != w {
					// It finishes the deploy it is running (without
					// blocking the main loop and its watchdog pings);
					// the store's lock keeps it and its successor apart.
					go w.stop()
				} else if w.hook != nil {
					if err := w.hook.ReloadToken(); err != nil {
						d.log.Error("reload: webhook token not reloaded; the old one stays", "site", name, "err", err)
					}
				}
			}
			for name, w := range st.workers {
				if old.workers[name] != w {
					w.start()
				}
			}
			d.updateMetricsLive(st)
			d.log.Info("configuration reloaded", "config", cfg.Path, "sites", len(cfg.Sites))
			d.metrics.reloads.WithLabelValues("ok").Inc()
			d.sendStatus()
			return nil
		}
	}
	d.metrics.reloads.WithLabelValues("rejected").Inc()
	d.log.Error("reload rejected; the running configuration stays", "config", d.opts.ConfigPath, "err", err)
	d.setStatusPrefix("reload rejected: " + firstLine(err.Error()))
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " (and more)"
	}
	return s
}

// build makes the state for cfg: opens every site's store and creates the
// work loops (reusing old's loop for a site whose settings are unchanged).
// Nothing is started.
func (d *Daemon) build(cfg *config.Config, old *state) (*state, error) {
	cl, err := d.s3Client(cfg, old)
	if err != nil {
		return nil, fmt.Errorf("[s3]: %w", err)
	}
	st := &state{cfg: cfg, local: &service.Local{Sites: map[string]*service.Site{}, Via: "daemon", Sources: sources(cl)}, workers: map[string]*worker{}, s3: cl}
	var errs []error
	for i := range cfg.Sites {
		s := &cfg.Sites[i]
		if err := os.MkdirAll(s.Root, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("site %s: root: %w", s.Name, err))
			continue
		}
		if _, err := releases.Open(s.Root); err != nil {
			errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
			continue
		}
		if s.Triggers.Inbox != "" {
			if err := os.MkdirAll(s.Triggers.Inbox, 0o770|os.ModeSetgid); err != nil {
				errs = append(errs, fmt.Errorf("site %s: inbox: %w", s.Name, err))
				continue
			}
		}
		st.local.Sites[s.Name] = service.SiteFromConfig(s)
		if old != nil {
			// A loop whose S3 triggers use another client is remade.
			if w, ok := old.workers[s.Name]; ok && reflect.DeepEqual(*w.site, *s) && (w.s3 == nil || w.s3 == cl) {
				st.workers[s.Name] = w
				continue
			}
		}
		w, err := newWorker(d, s, cfg.Daemon.WebhookTokenFile, cl)
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
			continue
		}
		st.workers[s.Name] = w
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if st.notifier, err = d.newNotifier(cfg); err != nil {
		return nil, err
	}
	return st, nil
}

// recover takes and releases the store's lock once, which removes the
// leftovers of interrupted runs.
func (d *Daemon) recover(ctx context.Context, local *service.Local, site string) error {
	// Prune with a dry run takes no lock; Pin of nothing is not possible;
	// a status read does not recover. Open the store and lock it directly.
	s := local.Sites[site]
	st, err := releases.Open(s.Root)
	if err != nil {
		return err
	}
	lk, cleaned, err := st.Lock(ctx, 30*time.Second, releases.Who{UID: os.Getuid(), PID: os.Getpid(), Via: "daemon"}, "recover")
	if err != nil {
		return err
	}
	// The canary link and cohorts for the shipped nginx snippet, on
	// stores made before they existed.
	cerr := st.EnsureCohorts()
	lk.Unlock()
	if cerr != nil {
		d.log.Warn("could not make the canary link and cohorts", "site", site, "err", cerr)
	}
	if len(cleaned) > 0 {
		d.log.Info("recovered interrupted runs", "site", site, "removed", cleaned)
	}
	return nil
}

// listener returns the activated listener called name, or listens on addr
// itself ("" addr and no activated listener: nil, nil).
func (d *Daemon) listener(lns map[string][]net.Listener, name, network, addr string, mode os.FileMode) (net.Listener, error) {
	if l := lns[name]; len(l) > 0 {
		for _, extra := range l[1:] {
			extra.Close()
		}
		d.log.Info("using socket-activated listener", "name", name, "addr", l[0].Addr().String())
		return l[0], nil
	}
	if addr == "" {
		return nil, nil
	}
	if network == "unix" {
		if err := prepareUnixSocket(addr); err != nil {
			return nil, fmt.Errorf("%s socket %s: %w", name, addr, err)
		}
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	if network == "unix" && mode != 0 {
		if err := os.Chmod(addr, mode); err != nil {
			l.Close()
			return nil, fmt.Errorf("%s socket %s: %w", name, addr, err)
		}
	}
	d.log.Info("listening", "name", name, "addr", addr)
	return l, nil
}

// ErrAlreadyRunning is returned when another process answers on the
// control socket.
var ErrAlreadyRunning = errors.New("another release-agent is listening on the control socket")

// prepareUnixSocket creates the socket's directory and removes a stale
// socket file that nobody listens on.
func prepareUnixSocket(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("exists and is not a socket (%v)", fi.Mode())
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return ErrAlreadyRunning
	}
	return os.Remove(path)
}

func serveHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	hs.Shutdown(sctx)
	<-errc
	return nil
}

func (d *Daemon) notify(s string) {
	if err := d.opts.Notify(s); err != nil {
		d.log.Warn("sd_notify failed", "state", s, "err", err)
	}
}

// alive reports whether every work loop turned within interval.
func (st *state) alive(interval time.Duration) bool {
	for _, w := range st.workers {
		if !w.alive(interval) {
			return false
		}
	}
	return true
}

// sites lists the configured sites for the control API.
func (d *Daemon) sites() []control.SiteInfo {
	st := d.cur.Load()
	out := make([]control.SiteInfo, 0, len(st.cfg.Sites))
	for _, s := range st.cfg.Sites {
		si := control.SiteInfo{Name: s.Name, Root: s.Root, InProgress: d.doing(s.Name)}
		if store, err := releases.Open(s.Root); err == nil {
			si.Current, _ = store.Current()
		}
		out = append(out, si)
	}
	return out
}

func (d *Daemon) doing(site string) string {
	p := d.progressOf(site)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.doing
}

// setDoing records what site is doing ("" idle) and updates STATUS=.
func (d *Daemon) setDoing(site, what string) {
	p := d.progressOf(site)
	p.mu.Lock()
	p.doing = what
	p.mu.Unlock()
	if what == "" {
		d.metrics.inProgress.WithLabelValues(site).Set(0)
	} else {
		d.metrics.inProgress.WithLabelValues(site).Set(1)
	}
	d.sendStatus()
}

var statusPrefix atomic.Pointer[string]

func (d *Daemon) setStatusPrefix(s string) {
	statusPrefix.Store(&s)
	d.sendStatus()
}

// sendStatus sends STATUS= with every site's live release and activity,
// e.g. "www: v42 live, deploying inbox site.tar.gz; docs: v7 live, idle".
func (d *Daemon) sendStatus() {
	st := d.cur.Load()
	if st == nil {
		return
	}
	var parts []string
	if p := statusPrefix.Load(); p != nil && *p != "" {
		parts = append(parts, *p)
	}
	for _, si := range d.sites() {
		cur := si.Current
		if cur == "" {
			cur = "nothing"
		}
		doing := si.InProgress
		if doing == "" {
			doing = "idle"
		}
		parts = append(parts, fmt.Sprintf("%s: %s live, %s", si.Name, cur, doing))
	}
	s := strings.Join(parts, "; ")
	d.statusMu.Lock()
	defer d.statusMu.Unlock()
	if s == d.lastStatus {
		return
	}
	d.lastStatus = s
	d.notify("STATUS=" + s)
}

func (d *Daemon) updateMetricsLive(st *state) {
	d.metrics.initSites(st.cfg.Sites)
	for _, s := range st.cfg.Sites {
		if store, err := releases.Open(s.Root); err == nil {
			if cur, _ := store.Current(); cur != "" {
				if n, ok := releases.ParseID(cur); ok {
					d.metrics.live.WithLabelValues(s.Name).Set(float64(n))
				}
			}
		}
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants
// it (systemd 253+).
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1e3
}

var _ api.Service = (*daemonService)(nil)

package daemon

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/notify"
	"github.com/example/release-agent/releases"
)

// newNotifier starts the notifier of cfg's [[notify]] endpoints (nil
// without any): a token file that cannot be read is a configuration
// error. Dropped documents are counted in
// release_agent_notifications_dropped_total. Each configuration (each
// reload) gets its own notifier; the one it replaces delivers what it has
// queued for up to notifyCloseGrace, in the background.
func (d *Daemon) newNotifier(cfg *config.Config) (*notify.Notifier, error) {
	if len(cfg.Notify) == 0 {
		return nil, nil
	}
	eps, err := notify.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	nm := &d.metrics.notify
	nm.init(d.metrics.reg)
	// Every series exists from the start, at zero.
	for _, ep := range eps {
		for _, k := range notify.Kinds {
			nm.sent.WithLabelValues(ep.Name, k)
			nm.dropped.WithLabelValues(ep.Name, k)
		}
	}
	return notify.New(eps, notify.Options{
		Log: d.log,
		OnDrop: func(ep, ev, _ string) {
			nm.dropped.WithLabelValues(ep, ev).Inc()
		},
		OnSent: func(ep, ev string) {
			nm.sent.WithLabelValues(ep, ev).Inc()
		},
	}), nil
}

// notifyMetrics are the counters of outgoing notifications, made and
// registered with the first notifier: they exist only when [[notify]] is
// configured.
type notifyMetrics struct {
	once          sync.Once
	sent, dropped *prometheus.CounterVec
}

func (nm *notifyMetrics) init(reg *prometheus.Registry) {
	nm.once.Do(func() {
		nm.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_notifications_sent_total",
			Help: "Notifications delivered, by endpoint ([[notify]] index) and event."}, []string{"endpoint", "event"})
		nm.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_notifications_dropped_total",
			Help: "Notifications dropped (queue full, retries exhausted, shutdown), by endpoint and event."}, []string{"endpoint", "event"})
		reg.MustRegister(nm.sent, nm.dropped)
	})
}

// notifyCloseGrace is how long a replaced or stopping notifier may keep
// delivering what it has queued.
const notifyCloseGrace = 5 * time.Second

// closeNotifier lets n deliver what it has queued for up to
// notifyCloseGrace, in the background unless wait.
func closeNotifier(n *notify.Notifier, wait bool) {
	if n == nil {
		return
	}
	done := func() {
		ctx, cancel := context.WithTimeout(context.Background(), notifyCloseGrace)
		defer cancel()
		n.Close(ctx)
	}
	if wait {
		done()
	} else {
		go done()
	}
}

// emit sends ev to the current configuration's endpoints. It never
// blocks (see package notify).
func (d *Daemon) emit(ev notify.Event) {
	st := d.cur.Load()
	if st == nil || st.notifier == nil || ev.Site == "" {
		return
	}
	if ev.Release != "" && ev.Commit == "" && ev.Message == "" {
		// Activate and rollback: the provenance of the release now live.
		if sc := st.cfg.Site(ev.Site); sc != nil {
			if store, err := releases.Open(sc.Root); err == nil {
				if rec, err := store.Record(ev.Release); err == nil {
					provenance(&ev, rec.Provenance)
				}
			}
		}
	}
	st.notifier.Notify(ev)
}

// emitDeploy notifies the outcome of a deploy of site (what: the
// trigger): deploy when a release went live, rejected, or failed (a
// deploy rolled back by its health check is also a failure; the rollback
// is notified by afterSwap). A deploy that only stages is not notified.
func (d *Daemon) emitDeploy(site, what, source string, res *api.DeployResult, err error) {
	ev := notify.Event{Site: site, Cause: what, Source: source}
	switch {
	case err == nil && res != nil && res.Activated:
		ev.Event, ev.Release, ev.Previous = notify.Deploy, res.Release.ID, res.Previous
		provenance(&ev, res.Release.Provenance)
	case err == nil:
		return
	case errors.Is(err, api.ErrRejected):
		ev.Event, ev.Summary = notify.Rejected, err.Error()
	default:
		ev.Event, ev.Error = notify.Failed, err.Error()
	}
	d.emit(ev)
}

// provenance copies a release's commit, message and meta into ev.
func provenance(ev *notify.Event, p *releases.Provenance) {
	if p == nil {
		return
	}
	ev.Commit, ev.Message, ev.Meta = p.Commit, p.Message, maps.Clone(p.Meta)
}

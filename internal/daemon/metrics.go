package daemon

import (
	"errors"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
)

// metrics are the daemon's Prometheus metrics, on their own registry
// (served only on the opt-in metrics listener).
//
// Every series of a counter exists from start, at zero: initSite makes
// each label combination of each configured site (a new counter adds its
// line there), so that rate() and alerts see a 0 before the first event.
type metrics struct {
	reg                   *prometheus.Registry
	buildInfo             *prometheus.GaugeVec
	deploys               *prometheus.CounterVec
	duration              *prometheus.HistogramVec
	live                  *prometheus.GaugeVec
	lastSuccess           *prometheus.GaugeVec
	inProgress            *prometheus.GaugeVec
	rollbacks             *prometheus.CounterVec
	healthFailures        *prometheus.CounterVec
	healthRollbackSeconds *prometheus.GaugeVec
	reloads               *prometheus.CounterVec
	// notify engineer: counters of outgoing notifications (notify.go).
	notify notifyMetrics
	// giveUps counts artifacts the triggers gave up on (issue 14).
	giveUps *prometheus.CounterVec
	// Fleet members (issue 16, fleet.go).
	fleetGeneration *prometheus.GaugeVec
	fleetActions    *prometheus.CounterVec
	// [site.watch] (issue 17, watch.go).
	watchRate     *prometheus.GaugeVec
	watchVerdicts *prometheus.CounterVec
}

// Label values known in advance, for initSite.
var (
	deployOutcomes = []string{"ok", "rejected", "failed"}
	rollbackCauses = []string{"manual", "health-check", "activate", CauseWatch}
	watchDecisions = []string{"pass", "rollback", "not-judged"}
	reloadResults  = []string{"ok", "rejected"}
)

// newMetrics returns the daemon's metrics; setVersion fills in
// release_agent_build_info.
func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "release_agent_build_info",
			Help: "Always 1; the labels say which release-agent runs."}, []string{"version", "goversion"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_deploys_total",
			Help: "Deploys by site and outcome (ok, rejected, failed)."}, []string{"site", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "release_agent_deploy_duration_seconds",
			Help:    "Duration of deploys (source to activation and prune).",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}, []string{"site"}),
		live: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "release_agent_live_release",
			Help: "Number N of the live release vN."}, []string{"site"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "release_agent_last_success_timestamp_seconds",
			Help: "Unix time of the last successful deploy."}, []string{"site"}),
		inProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "release_agent_deploy_in_progress",
			Help: "1 while a deploy of the site runs."}, []string{"site"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_rollbacks_total",
			Help: "Rollbacks by site and cause (manual, health-check)."}, []string{"site", "cause"}),
		healthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_health_check_failures_total",
			Help: "Health checks failed after a swap."}, []string{"site"}),
		healthRollbackSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "release_agent_health_rollback_seconds",
			Help: "Time from the swap to the automatic rollback, last time it happened."}, []string{"site"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_config_reloads_total",
			Help: "Configuration reloads by result (ok, rejected)."}, []string{"result"}),
	}
	m.giveUps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_trigger_giveups_total",
		Help: "Artifacts the triggers gave up on (retries used up, or a permanent failure)."}, []string{"site"})
	m.reg.MustRegister(m.giveUps)
	m.fleetGeneration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "release_agent_fleet_generation",
		Help: "Generation of the fleet's desired.json the site acted on last."}, []string{"site"})
	m.fleetActions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "release_agent_fleet_actions_total",
		Help: "Actions of a fleet member by phase (stage, activate) and resulting state."}, []string{"site", "phase", "state"})
	m.reg.MustRegister(m.fleetGeneration, m.fleetActions)
	newWatchMetrics(m)
	m.reg.MustRegister(m.buildInfo, m.deploys, m.duration, m.live, m.lastSuccess, m.inProgress, m.rollbacks,
		m.healthFailures, m.healthRollbackSeconds, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range reloadResults {
		m.reloads.WithLabelValues(r)
	}
	return m
}

// setVersion sets release_agent_build_info{version, goversion} to 1.
func (m *metrics) setVersion(version string) {
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// initSites makes every per-site series of the sites in cfg that does not
// exist yet, at zero; existing ones keep their values. Safe for
// concurrent use.
func (m *metrics) initSites(sites []config.Site) {
	for i := range sites {
		m.initSite(sites[i].Name)
	}
}

func (m *metrics) initSite(site string) {
	for _, o := range deployOutcomes {
		m.deploys.WithLabelValues(site, o)
	}
	for _, c := range rollbackCauses {
		m.rollbacks.WithLabelValues(site, c)
	}
	m.healthFailures.WithLabelValues(site)
	m.duration.WithLabelValues(site)
	m.inProgress.WithLabelValues(site).Add(0)
	// Other counters: one line each below.
	m.giveUps.WithLabelValues(site) // retry.go
	for _, v := range watchDecisions {
		m.watchVerdicts.WithLabelValues(site, v) // watch.go
	}
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

func (m *metrics) observeDeploy(site string, d time.Duration, err error) {
	if site == "" {
		site = "(root)"
	}
	outcome := "ok"
	switch {
	case errors.Is(err, api.ErrRejected):
		outcome = "rejected"
	case err != nil:
		outcome = "failed"
	}
	m.deploys.WithLabelValues(site, outcome).Inc()
	m.duration.WithLabelValues(site).Observe(d.Seconds())
	if err == nil {
		m.lastSuccess.WithLabelValues(site).Set(float64(time.Now().Unix()))
	}
}

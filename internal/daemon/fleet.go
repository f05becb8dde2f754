package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/backoff"
	"github.com/example/release-agent/internal/carry"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/daemon/trigger"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/fleet"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

// Provenance labels a fleet member gives the releases it stages, so that
// it finds a label's release again (after a restart too) without any
// state of its own.
const (
	metaFleetRelease    = "fleet-release"
	metaFleetGeneration = "fleet-generation"
	metaFleet           = "fleet"
)

// follower makes one fleet site converge on its fleet's desired.json:
// it reads desired.json at start, on every bucket notification for it,
// and every fleet.poll; acts on a generation newer than the one it acted
// on last (never an older one); and writes hosts/<host>.json on every
// change of state and every fleet.heartbeat. It runs one action at a
// time, in its own goroutine: the store's lock orders it with releasectl
// and the site's other work.
//
// A member never moves away from desired.json by itself, except for its
// own health-check rollback after an activation, which it reports
// (RolledBack) and does not retry for that generation.
type follower struct {
	w    *worker
	site *config.Site
	b    *fleet.Bucket

	mu  sync.Mutex
	rep fleet.HostReport
	// putMu orders the writes of the report: each one takes the state as
	// it is when its turn comes, so a heartbeat never overwrites a newer
	// state with the one it read before.
	putMu sync.Mutex

	// done is the generation the follower finished (staged, live,
	// rejected, or rolled back by its health check); failed is how many
	// times the current generation failed for another reason.
	done     int64
	failed   int
	failedAt time.Time
	kick     chan struct{}
}

// followFleet runs the site's follower until the loop stops.
func (w *worker) followFleet() {
	fc := w.site.Fleet
	cl := w.d.cur.Load().s3
	log := w.d.log.With("site", w.site.Name, "fleet", fc.URL, "host", fc.Host)
	if cl == nil {
		log.Error("fleet: no S3 client; the fleet is not followed")
		return
	}
	b, err := fleet.New(cl.Minio(), fc.URL)
	if err != nil {
		log.Error("fleet: not followed", "err", err)
		return
	}
	f := &follower{w: w, site: w.site, b: b, kick: make(chan struct{}, 1)}
	f.rep = fleet.HostReport{Host: fc.Host, Agent: w.d.version}
	ctx, cancel := w.context()
	defer cancel()
	if fc.S3Listen {
		events := make(chan trigger.Event, 16)
		l := &trigger.Listen{Client: cl.Minio(), Filter: trigger.Filter{Bucket: b.BucketName(), Prefix: b.DesiredKey()}, Logger: log}
		go func() {
			if err := l.Run(ctx, events); err != nil && ctx.Err() == nil {
				log.Error("fleet: listen stopped; polling only", "err", err)
			}
		}()
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-events:
					if e.Key == b.DesiredKey() && !e.Removed() {
						f.poke()
					}
				}
			}
		}()
	}
	f.live(ctx)
	// Heartbeats go on while a long stage runs: an operator takes a
	// member whose heartbeat is older than its timeout for gone.
	go func() {
		beat := time.NewTicker(fc.Heartbeat.D())
		defer beat.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-beat.C:
				f.put(ctx, log)
			}
		}
	}()
	poll := time.NewTicker(fc.Poll.D())
	defer poll.Stop()
	f.step(ctx, log)
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
			f.step(ctx, log)
		case <-poll.C:
			f.step(ctx, log)
		}
	}
}

func (f *follower) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// set changes the report with change and writes it at once.
func (f *follower) set(ctx context.Context, log interface{ Warn(string, ...any) }, change func(r *fleet.HostReport)) {
	f.mu.Lock()
	change(&f.rep)
	f.mu.Unlock()
	f.put(ctx, log)
}

// put writes the report with a fresh heartbeat. A failed write is logged
// and made again at the next beat.
func (f *follower) put(ctx context.Context, log interface{ Warn(string, ...any) }) {
	f.putMu.Lock()
	defer f.putMu.Unlock()
	f.mu.Lock()
	f.rep.Heartbeat = time.Now().UTC()
	r := f.rep
	f.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.b.PutHost(pctx, &r); err != nil && ctx.Err() == nil {
		log.Warn("fleet: report not written; again at the next heartbeat", "err", err)
	}
}

// live fills the report's Live from the store.
func (f *follower) live(ctx context.Context) {
	local := f.w.d.cur.Load().local
	ls, err := local.List(ctx, api.Target{Site: f.site.Name})
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rep.Live = nil
	for _, r := range ls.Releases {
		if r.Current {
			f.rep.Live = &fleet.HostRelease{ID: r.ID, Release: labelOf(&r.Record)}
		}
	}
}

func labelOf(r *releases.Record) string {
	if r.Provenance == nil {
		return ""
	}
	return r.Provenance.Meta[metaFleetRelease]
}

// step reads desired.json and acts on it if it is newer than what was
// done. It never returns an error: what went wrong is logged and
// reported.
func (f *follower) step(ctx context.Context, log interface {
	Info(string, ...any)
	Warn(string, ...any)
	Error(string, ...any)
}) {
	d, _, err := f.b.Desired(ctx)
	if errors.Is(err, fleet.ErrNoDesired) {
		f.put(ctx, log)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Error("fleet: desired.json not read; nothing changes", "err", err)
		}
		return
	}
	if d.Generation <= f.done {
		return // done already, or an older generation (never go back)
	}
	if f.failed > 0 {
		// A failure other than a rejection is tried again, with the
		// site's retry policy, then given up until the next generation.
		if f.failed >= f.site.Retry.Attempts {
			return
		}
		if time.Since(f.failedAt) < backoff.Delay(f.site.Retry.Initial.D(), f.site.Retry.MaxDelay.D(), f.failed-1) {
			return
		}
	}
	start := time.Now()
	log.Info("fleet: acting", "generation", d.Generation, "release", d.Release, "phase", d.Phase)
	state, id, err := f.act(ctx, d, log)
	if ctx.Err() != nil {
		return // shutting down: the next start converges
	}
	f.mu.Lock()
	rolledBack := f.rep.RolledBack != ""
	f.mu.Unlock()
	if state == fleet.StateFailed && !rolledBack {
		f.failed++
		f.failedAt = time.Now()
		if f.failed >= f.site.Retry.Attempts {
			f.done = d.Generation
		}
	} else {
		f.done, f.failed = d.Generation, 0
	}
	f.live(ctx)
	f.set(ctx, log, func(r *fleet.HostReport) {
		r.Generation, r.State = d.Generation, state
		r.Error = ""
		if err != nil {
			r.Error = err.Error()
		}
		if id != "" && (state == fleet.StateStaged || state == fleet.StateLive) {
			r.Staged = &fleet.HostRelease{Release: d.Release, ID: id}
		}
	})
	lvl := log.Info
	if err != nil {
		lvl = log.Error
	}
	lvl("fleet: done", "generation", d.Generation, "release", d.Release, "phase", d.Phase, "state", state, "id", id,
		"err", err, "duration", time.Since(start).Round(time.Millisecond))
	if m := f.w.d.metrics; m != nil {
		m.fleetGeneration.WithLabelValues(f.site.Name).Set(float64(d.Generation))
		m.fleetActions.WithLabelValues(f.site.Name, string(d.Phase), string(state)).Inc()
	}
}

// act does what d asks and returns the resulting state, the local id of
// d's release, and the error of a failure or rejection.
func (f *follower) act(ctx context.Context, d *fleet.Desired, log interface{ Warn(string, ...any) }) (fleet.State, string, error) {
	f.set(ctx, log, func(r *fleet.HostReport) {
		r.Generation, r.State, r.Error, r.RolledBack = d.Generation, fleet.StateStaging, "", ""
	})
	target := api.Target{Site: f.site.Name}
	ctx = service.WithWho(ctx, releases.Who{UID: -1, Via: "fleet:" + f.b.URL(), User: d.Who})
	id, err := f.find(ctx, d.Release)
	if err != nil {
		return fleet.StateFailed, "", err
	}
	if id == "" {
		art, ok := d.Find(d.Release)
		if !ok {
			return fleet.StateFailed, "", fmt.Errorf("desired.json names release %q without its artifact", d.Release)
		}
		res, err := f.w.d.runDeploy(ctx, f.site.Name, api.DeployRequest{
			Target: target, Source: art.Artifact.URL, SHA256: art.Artifact.SHA256, Activate: false, Force: true, Wait: lockWait,
			Provenance: &releases.Provenance{Commit: art.Commit, Message: art.Message, Meta: map[string]string{
				metaFleetRelease: d.Release, metaFleetGeneration: strconv.FormatInt(d.Generation, 10), metaFleet: f.b.URL()}},
		})
		if errors.Is(err, api.ErrRejected) || errors.Is(err, deploy.ErrRejected) {
			return fleet.StateRejected, "", errors.New(rejection(err))
		}
		if err != nil {
			return fleet.StateFailed, "", err
		}
		id = res.Release.ID
	}
	// Serve the staged release's hashed assets from the live release
	// already, so that during the switch a page from any host loads
	// completely from any other.
	if err := f.preload(ctx, id); err != nil {
		return fleet.StateFailed, id, err
	}
	if d.Phase != fleet.PhaseActivate {
		return fleet.StateStaged, id, nil
	}
	st, err := releases.OpenExisting(f.site.Root)
	if err != nil {
		return fleet.StateFailed, id, err
	}
	if cur, _ := st.Current(); cur == id {
		return fleet.StateLive, id, nil
	}
	_, err = (&daemonService{f.w.d}).Activate(ctx, api.ActivateRequest{Target: target, ID: id, Wait: lockWait,
		Reason: fmt.Sprintf("fleet %s generation %d", f.b.URL(), d.Generation)})
	if errors.Is(err, ErrUnhealthy) {
		f.mu.Lock()
		f.rep.RolledBack = id
		f.mu.Unlock()
		return fleet.StateFailed, id, err
	}
	if err != nil {
		return fleet.StateFailed, id, err
	}
	return fleet.StateLive, id, nil
}

// rejection is the error of a rejected stage with its blocking findings
// (at most 5), which is what the operator needs to see in the report.
func rejection(err error) string {
	msg := err.Error()
	var rep *validate.Report
	if re, ok := errors.AsType[*deploy.RejectedError](err); ok {
		rep = re.Report
	} else if ae, ok := errors.AsType[*api.Error](err); ok {
		rep = ae.Report
	}
	if rep == nil {
		return msg
	}
	n := 0
	for _, f := range rep.Findings {
		if !f.Blocking {
			continue
		}
		if n == 5 {
			msg += "; ..."
			break
		}
		n++
		msg += fmt.Sprintf("; %s: %s %s", f.File, f.Kind, f.Ref)
		if f.Reason != "" {
			msg += " (" + f.Reason + ")"
		}
	}
	return msg
}

// find returns the newest staged release of label that still has its
// tree, or "".
func (f *follower) find(ctx context.Context, label string) (string, error) {
	ls, err := f.w.d.cur.Load().local.List(ctx, api.Target{Site: f.site.Name})
	if err != nil {
		return "", err
	}
	for _, r := range ls.Releases { // newest first
		if labelOf(&r.Record) == label && r.Live() && r.Damage == "" && r.Provenance.Meta[metaFleet] == f.b.URL() {
			return r.ID, nil
		}
	}
	return "", nil
}

// preload links the hashed assets of release id into the live release
// (carry-over, ahead of the switch), under the store's lock.
func (f *follower) preload(ctx context.Context, id string) error {
	st, err := releases.OpenExisting(f.site.Root)
	if err != nil {
		return err
	}
	cur, err := st.Current()
	if err != nil || cur == "" || cur == id {
		return nil // nothing live yet: nothing to preload into
	}
	lk, _, err := st.Lock(ctx, lockWait, releases.Who{UID: -1, Via: "fleet"}, "fleet preload "+id)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if cur, err = st.Current(); err != nil || cur == "" || cur == id {
		return err
	}
	if err := carry.OnSwitch(ctx, st)(id, cur); err != nil {
		return fmt.Errorf("linking the hashed assets of %s into live %s: %w", id, cur, err)
	}
	return nil
}

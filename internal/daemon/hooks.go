package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/daemon/trigger"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/releases"
)

// S3 event triggers (webhook; listen and poll on the daemon's shared S3
// client): events go through a trigger.Queue (deduplicated, coalesced,
// never backwards) and become jobs of the site's work loop.

// s3Filter derives the event filter of an s3:// source: its bucket, and
// its key (an object source) or its completion marker (a prefix source:
// the objects of a prefix upload start nothing, the marker uploaded last
// does; see markerEvent).
func s3Filter(src string) (trigger.Filter, bool) {
	rest, ok := strings.CutPrefix(src, "s3://")
	if !ok {
		return trigger.Filter{}, false
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if strings.HasSuffix(key, "/") || key == "" {
		return trigger.Filter{Bucket: bucket, Prefix: key, Suffix: s3.DefaultMarker}, true
	}
	// An object source: that key only.
	return trigger.Filter{Bucket: bucket, Prefix: key, Suffix: key}, true
}

// markerEvent keeps, for a prefix source, only the events of its own
// completion marker (PREFIX.release-complete, not one in a sub-prefix),
// and marks each upload of it as its own artifact: an empty marker has
// the same ETag every time, so the ID also carries the upload's
// sequencer (or, from polling, its time). Duplicate deliveries of one
// notification share the sequencer and are still dropped as duplicates.
func markerEvent(e trigger.Event, f trigger.Filter) (trigger.Event, bool) {
	if e.Key != f.Prefix+s3.DefaultMarker {
		return e, false
	}
	e.Instance = e.Sequencer
	if e.Instance == "" {
		e.Instance = e.Time.UTC().Format(time.RFC3339Nano)
	}
	return e, true
}

// startHook creates the site's S3 triggers: the webhook (served by the
// daemon's webhook listener), MinIO's listen stream, and polling, the
// last two on cl.
func (w *worker) startHook(cl *s3.Client) error {
	s := w.site
	f, _ := s3Filter(s.Source)
	if s.Triggers.Webhook {
		hook, err := trigger.NewWebhook(trigger.WebhookConfig{TokenFile: w.tokenFile, Filter: f, Logger: w.d.log})
		if err != nil {
			return err
		}
		w.hook = hook
		w.triggers = append(w.triggers, hook)
	}
	if (s.Triggers.S3Listen || s.Triggers.Poll > 0) && strings.HasPrefix(s.Source, "s3://") {
		if cl == nil {
			return errors.New("s3_listen and poll need an S3 client")
		}
		w.s3 = cl
		if s.Triggers.S3Listen {
			w.triggers = append(w.triggers, &trigger.Listen{Client: cl.Minio(), Filter: f, Logger: w.d.log})
		}
		if s.Triggers.Poll > 0 {
			w.triggers = append(w.triggers, &trigger.Poll{Client: cl.Minio(), Filter: f, Interval: s.Triggers.Poll.D(), Logger: w.d.log})
		}
	}
	return nil
}

// runHook runs the site's S3 triggers into one queue (deduplicated,
// coalesced, never backwards) that feeds the work loop.
func (w *worker) runHook() {
	if len(w.triggers) == 0 {
		return
	}
	ctx, _ := w.context()
	q := trigger.NewQueue(trigger.QueueOptions{Logger: w.d.log.With("site", w.site.Name),
		Retry: retryPolicy(w.site.Retry), OnGiveUp: w.gaveUp})
	f, _ := s3Filter(w.site.Source)
	isPrefix := strings.HasSuffix(w.site.Source, "/")
	events := make(chan trigger.Event, 64)
	for _, tr := range w.triggers {
		go func() {
			if err := tr.Run(ctx, events); err != nil && ctx.Err() == nil {
				w.d.log.Error("trigger stopped", "site", w.site.Name, "trigger", fmt.Sprintf("%T", tr), "err", err)
			}
		}()
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-events:
				if isPrefix {
					var ok bool
					if e, ok = markerEvent(e, f); !ok {
						continue
					}
				}
				q.Add(e)
			}
		}
	}()
	go func() {
		for {
			e, err := q.Next(ctx)
			if err != nil {
				return
			}
			src := w.site.Source
			if !strings.HasSuffix(src, "/") {
				// An object source: exactly the version announced, when
				// the bucket is versioned.
				src = "s3://" + e.Bucket + "/" + e.Key
				if e.VersionID != "" && e.VersionID != "null" {
					src += "?versionId=" + url.QueryEscape(e.VersionID)
				}
			}
			type outcome struct {
				o   trigger.Outcome
				err error
			}
			done := make(chan outcome, 1)
			w.enqueue(&job{source: src, what: e.Origin + " " + e.Key, who: releases.Who{UID: -1, Via: "trigger:" + e.Origin}, queue: "s3",
				done: func(res *api.DeployResult, err error) {
					if err == nil {
						w.giveUp.Store(nil)
					}
					o := triggerOutcome(err) // retry.go
					w.logTriggered(e, o, res, err)
					done <- outcome{o, err}
				},
				skipped: func(by *job) {
					w.d.log.Info("trigger: deploy superseded before it started", "site", w.site.Name, "trigger", e.Origin,
						"bucket", e.Bucket, "key", e.Key, "etag", e.ETag, "by", by.what)
					done <- outcome{o: trigger.Superseded}
				},
			})
			select {
			case o := <-done:
				q.Fail(e, o.o, o.err)
			case <-ctx.Done():
				return
			}
		}
	}()
}

// logTriggered logs the outcome of a deploy an S3 event started, at Info
// (Warn when it failed): the trigger, the object, the outcome, the time
// from the notification to the outcome and the pipeline's stage timings.
func (w *worker) logTriggered(e trigger.Event, o trigger.Outcome, res *api.DeployResult, err error) {
	attrs := []any{"site", w.site.Name, "trigger", e.Origin, "bucket", e.Bucket, "key", e.Key, "etag", e.ETag}
	if e.VersionID != "" {
		attrs = append(attrs, "version", e.VersionID)
	}
	if !e.Received.IsZero() {
		attrs = append(attrs, "since_event", time.Since(e.Received).Round(time.Millisecond))
	}
	if res != nil {
		var st []string
		for _, t := range res.Timings {
			st = append(st, fmt.Sprintf("%s=%.3fs", t.Stage, t.Seconds))
		}
		id := res.Release.ID
		if id == "" {
			id = res.AlreadyLive
		}
		attrs = append(attrs, "release", id, "stages", strings.Join(st, " "))
	}
	switch o {
	case trigger.Deployed:
		if res != nil && res.AlreadyLive != "" {
			w.d.log.Info("trigger: already live", append(attrs, "outcome", "already-live")...)
			return
		}
		w.d.log.Info("trigger: deployed", append(attrs, "outcome", "deployed")...)
	case trigger.Rejected:
		w.d.log.Warn("trigger: rejected", append(attrs, "outcome", "rejected", "err", err)...)
	case trigger.Failed:
		w.d.log.Warn("trigger: deploy failed (not retried until the artifact changes)", append(attrs, "outcome", "failed", "err", err)...)
	default:
		w.d.log.Warn("trigger: deploy failed (will retry)", append(attrs, "outcome", "retry", "err", err)...)
	}
}

// serveHook routes POST /v0/hook/SITE on the webhook listener to the
// site's webhook.
func (d *Daemon) serveHook(rw http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/v0/hook/")
	if !ok || name == "" || strings.Contains(name, "/") {
		http.NotFound(rw, r)
		return
	}
	w := d.cur.Load().workers[name]
	if w == nil || w.hook == nil {
		http.Error(rw, "no site "+name+" with a webhook trigger", http.StatusNotFound)
		return
	}
	w.hook.ServeHTTP(rw, r)
}

// Package notify sends release-agent's outgoing notifications: for each
// configured endpoint ([[notify]] in the configuration), a JSON document
// POSTed on deploy, activate, rollback, rejection and failure.
//
// # Document
//
// An Event, schema-versioned (Schema), with a Slack-compatible "text"
// field beside the structured ones, so that a Slack (or Mattermost,
// Rocket.Chat) incoming webhook URL works as an endpoint unchanged.
//
// # Delivery
//
// Notify never blocks and never fails: each endpoint has its own bounded
// queue and one goroutine that delivers its documents in order. A
// delivery that fails with a network error, a timeout, 408, 429 or a 5xx
// is retried with capped exponential backoff and jitter, up to
// Options.Attempts attempts; other statuses are permanent. A document
// that finds its endpoint's queue full, or fails every attempt, is
// dropped: logged and passed to Options.OnDrop (the daemon counts it in
// a metric). Delivery is at most once per attempt and not durable: a
// restart loses what is queued.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/example/release-agent/internal/backoff"
)

// Schema is the version of the Event document. It changes only when a
// field changes meaning or disappears.
const Schema = 1

// Event kinds (the values of the events filter of [[notify]]).
const (
	// Deploy: a new release went live (a deploy that only stages is not
	// notified).
	Deploy = "deploy"
	// Activate: an existing release was made live with `releasectl activate`.
	Activate = "activate"
	// Rollback: the live release went back to an earlier one; Cause is
	// "manual" (releasectl rollback) or "health-check" (automatic, after a
	// failed health check).
	Rollback = "rollback"
	// Rejected: a deploy was refused by validation; nothing changed.
	Rejected = "rejected"
	// Failed: a deploy failed (including one rolled back by its health
	// check, which is also notified as a rollback).
	Failed = "failed"
)

// Kinds lists every event kind.
var Kinds = []string{Deploy, Activate, Rollback, Rejected, Failed}

// Rollback causes.
const (
	CauseManual      = "manual"
	CauseHealthCheck = "health-check"
)

// Event is the document POSTed to an endpoint.
type Event struct {
	Schema   int       `json:"schema"`
	Event    string    `json:"event"`
	Site     string    `json:"site"`
	Release  string    `json:"release,omitempty"`  // the release concerned (the new live one, for a rollback the one now live)
	Previous string    `json:"previous,omitempty"` // what was live before
	Time     time.Time `json:"time"`
	Host     string    `json:"host"`
	// Cause: for a rollback "manual" or "health-check"; for a deploy what
	// started it ("releasectl SOURCE", "inbox FILE", "webhook", ...).
	Cause  string `json:"cause,omitempty"`
	Source string `json:"source,omitempty"`
	// Error of a failed or rejected deploy, of an automatic rollback the
	// failed health check; Summary a one-line summary (of the validation
	// report, for a rejection).
	Error   string `json:"error,omitempty"`
	Summary string `json:"summary,omitempty"`
	// Provenance of the release, when its record carries it.
	Commit  string            `json:"commit,omitempty"`
	Message string            `json:"message,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	// Text is a one-line summary for chat (Slack's "text").
	Text string `json:"text"`
}

// text makes the Slack-compatible summary of ev.
func (ev *Event) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: ", ev.Site, ev.Host)
	switch ev.Event {
	case Deploy:
		fmt.Fprintf(&b, "%s is live", ev.Release)
		if ev.Previous != "" {
			fmt.Fprintf(&b, " (was %s)", ev.Previous)
		}
	case Activate:
		fmt.Fprintf(&b, "%s activated", ev.Release)
		if ev.Previous != "" {
			fmt.Fprintf(&b, " (was %s)", ev.Previous)
		}
	case Rollback:
		fmt.Fprintf(&b, "rolled back from %s to %s", ev.Previous, ev.Release)
		if ev.Cause == CauseHealthCheck {
			b.WriteString(" after a failed health check")
		} else if ev.Cause != "" {
			fmt.Fprintf(&b, " (%s)", ev.Cause)
		}
	case Rejected:
		b.WriteString("deploy rejected by validation")
	case Failed:
		b.WriteString("deploy failed")
	default:
		b.WriteString(ev.Event)
	}
	if ev.Commit != "" {
		fmt.Fprintf(&b, ", commit %.12s", ev.Commit)
	}
	if ev.Message != "" {
		fmt.Fprintf(&b, ": %s", firstLine(ev.Message))
	}
	if ev.Source != "" && (ev.Event == Deploy || ev.Event == Rejected || ev.Event == Failed) {
		fmt.Fprintf(&b, " [%s]", ev.Source)
	}
	switch {
	case ev.Summary != "":
		fmt.Fprintf(&b, ": %s", firstLine(ev.Summary))
	case ev.Error != "":
		fmt.Fprintf(&b, ": %s", firstLine(ev.Error))
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// Endpoint is where documents go.
type Endpoint struct {
	// Name identifies the endpoint in logs and metrics without its URL
	// (which may hold a secret): the daemon uses "notify[N]".
	Name string
	URL  string
	// Token, if set, is sent as "Authorization: Bearer TOKEN".
	Token string
	// Events are the kinds sent; empty means all.
	Events []string
}

func (e *Endpoint) wants(kind string) bool {
	if len(e.Events) == 0 {
		return true
	}
	for _, k := range e.Events {
		if k == kind {
			return true
		}
	}
	return false
}

// Options tune delivery; zero values mean the defaults.
type Options struct {
	// QueueSize bounds each endpoint's queue (default 100).
	QueueSize int
	// Attempts bounds the deliveries of one document (default 5).
	Attempts int
	// Backoff is the delay before the first retry (default 1s); it doubles
	// at each retry up to MaxBackoff (default 30s), with jitter (a delay
	// is between half and all of its nominal value).
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one POST (default 10s).
	Timeout time.Duration
	// Client sends the requests (default: a client with Timeout).
	Client *http.Client
	// Host is the host name in the documents (default os.Hostname).
	Host string
	// Log receives a line per retry and per dropped document (default
	// slog.Default()).
	Log *slog.Logger
	// OnDrop, if set, is called for each dropped document with the
	// endpoint's Name, the event kind and why ("queue full", "gave up:
	// ...", "shutting down").
	OnDrop func(endpoint, event, why string)
	// OnSent, if set, is called after each document delivered.
	OnSent func(endpoint, event string)
}

// Defaults of Options.
const (
	DefaultQueueSize  = 100
	DefaultAttempts   = 5
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 30 * time.Second
	DefaultTimeout    = 10 * time.Second
)

// Notifier delivers documents to endpoints. Its methods are safe for
// concurrent use.
type Notifier struct {
	o      Options
	sinks  []*sink
	ctx    context.Context // cancelled by Close when its deadline passes
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.RWMutex
	closed bool
}

type sink struct {
	ep Endpoint
	q  chan *Event
}

// New starts a Notifier for eps (none: Notify does nothing). Close stops it.
func New(eps []Endpoint, o Options) *Notifier {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	n := &Notifier{o: o}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, ep := range eps {
		s := &sink{ep: ep, q: make(chan *Event, o.QueueSize)}
		n.sinks = append(n.sinks, s)
		n.wg.Add(1)
		go n.run(s)
	}
	return n
}

// Notify queues ev for every endpoint that wants its kind, filling in
// Schema, Time (if zero), Host and Text. It never blocks: a full queue
// drops the document (logged, OnDrop). After Close it does nothing.
func (n *Notifier) Notify(ev Event) {
	if n == nil {
		return
	}
	ev.Schema = Schema
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.Host == "" {
		ev.Host = n.o.Host
	}
	ev.Text = ev.text()
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return
	}
	for _, s := range n.sinks {
		if !s.ep.wants(ev.Event) {
			continue
		}
		e := ev
		select {
		case s.q <- &e:
		default:
			n.drop(s, &e, "queue full")
		}
	}
}

// Close stops accepting documents and delivers what is queued until ctx
// is done; then it abandons the rest (dropped: logged, OnDrop) and
// returns once every endpoint's goroutine has stopped. A nil Notifier
// may be closed.
func (n *Notifier) Close(ctx context.Context) {
	if n == nil {
		return
	}
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, s := range n.sinks {
			close(s.q)
		}
	}
	n.mu.Unlock()
	stop := context.AfterFunc(ctx, n.cancel)
	defer stop()
	n.wg.Wait()
	n.cancel()
}

func (n *Notifier) drop(s *sink, ev *Event, why string) {
	n.o.Log.Warn("notification dropped", "endpoint", s.ep.Name, "url", redact(s.ep.URL), "event", ev.Event, "site", ev.Site, "release", ev.Release, "why", why)
	if n.o.OnDrop != nil {
		n.o.OnDrop(s.ep.Name, ev.Event, why)
	}
}

// run delivers s's documents in order until its queue is closed and
// drained, or the notifier is cancelled.
func (n *Notifier) run(s *sink) {
	defer n.wg.Done()
	for ev := range s.q {
		if n.ctx.Err() != nil {
			n.drop(s, ev, "shutting down")
			continue
		}
		if err := n.deliver(s, ev); err != nil {
			n.drop(s, ev, "gave up: "+err.Error())
			continue
		}
		if n.o.OnSent != nil {
			n.o.OnSent(s.ep.Name, ev.Event)
		}
	}
}

// errPermanent marks a failure that retrying cannot fix.
var errPermanent = errors.New("not retried")

// deliver POSTs ev to s's endpoint, retrying transient failures.
func (n *Notifier) deliver(s *sink, ev *Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := n.post(s, body)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPermanent) || attempt >= n.o.Attempts {
			return fmt.Errorf("attempt %d of %d: %w", attempt, n.o.Attempts, err)
		}
		wait := backoff.Delay(n.o.Backoff, n.o.MaxBackoff, attempt-1)
		n.o.Log.Info("notification failed; retrying", "endpoint", s.ep.Name, "url", redact(s.ep.URL), "event", ev.Event, "site", ev.Site,
			"attempt", attempt, "retry_in", wait.String(), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-n.ctx.Done():
			t.Stop()
			return fmt.Errorf("attempt %d of %d: %w (shutting down)", attempt, n.o.Attempts, err)
		case <-t.C:
		}
	}
}

func (n *Notifier) post(s *sink, body []byte) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ep.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "release-agent")
	if s.ep.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.ep.Token)
	}
	resp, err := n.o.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return fmt.Errorf("status %s", resp.Status)
	}
	return fmt.Errorf("%w: status %s", errPermanent, resp.Status)
}

// redact drops the query and user info of a URL for logs (a Slack
// webhook's path is its secret too, so only scheme and host remain).
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			rest = rest[:j]
		}
		if j := strings.LastIndexByte(rest, '@'); j >= 0 {
			rest = rest[j+1:]
		}
		return u[:i+3] + rest + "/..."
	}
	return "(url)"
}

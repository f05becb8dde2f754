package trigger

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultMaxBody is the default body limit of a webhook request.
const DefaultMaxBody = 1 << 20

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	// TokenFile holds the bearer token (surrounding white space is
	// ignored). Required: an unauthenticated endpoint is refused.
	TokenFile string
	// Filter selects the events of this site; others are ignored with a
	// log line (and still acknowledged, so the sender does not retry).
	Filter Filter
	// MaxBody bounds a request body (default DefaultMaxBody).
	MaxBody int64
	// Buffer is how many accepted events may wait for Run (default 1024);
	// when full, requests get 503 and the sender retries.
	Buffer int
	Logger *slog.Logger
}

// Webhook is an http.Handler for S3 event notifications (POST, the
// Records[] JSON) authenticated by "Authorization: Bearer TOKEN", and a
// Trigger delivering the accepted events. Responses: 200 accepted or
// ignored, 400 malformed, 401 missing or wrong token, 405 not POST, 413
// body too large, 503 backlog full. It is safe for concurrent use.
type Webhook struct {
	cfg    WebhookConfig
	log    *slog.Logger
	events chan Event

	mu        sync.RWMutex
	tokenHash [sha256.Size]byte
}

// ErrNoToken is returned by NewWebhook when the token file is empty.
var ErrNoToken = errors.New("webhook token is empty")

// NewWebhook reads the token file and returns the handler.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1024
	}
	w := &Webhook{cfg: cfg, log: cfg.Logger, events: make(chan Event, cfg.Buffer)}
	if w.log == nil {
		w.log = slog.Default()
	}
	if err := w.ReloadToken(); err != nil {
		return nil, err
	}
	return w, nil
}

// ReloadToken reads the token file again (e.g. on SIGHUP). On error the
// old token stays in force.
func (w *Webhook) ReloadToken() error {
	b, err := os.ReadFile(w.cfg.TokenFile)
	if err != nil {
		return fmt.Errorf("webhook token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return fmt.Errorf("webhook token file %s: %w", w.cfg.TokenFile, ErrNoToken)
	}
	w.mu.Lock()
	w.tokenHash = sha256.Sum256([]byte(tok))
	w.mu.Unlock()
	return nil
}

// authorized compares the bearer token in constant time (over hashes, so
// the length does not leak either).
func (w *Webhook) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	w.mu.RLock()
	want := w.tokenHash
	w.mu.RUnlock()
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodHead, http.MethodGet:
		// MinIO probes its webhook target; say nothing more than "alive".
		rw.WriteHeader(http.StatusOK)
		return
	default:
		rw.Header().Set("Allow", "POST")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !w.authorized(r) {
		w.log.Warn("trigger: webhook request without a valid token", "remote", r.RemoteAddr)
		rw.Header().Set("WWW-Authenticate", `Bearer realm="release-agent"`)
		http.Error(rw, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(rw, fmt.Sprintf("body larger than %d bytes", w.cfg.MaxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(rw, "reading body failed", http.StatusBadRequest)
		return
	}
	evs, err := ParseEvent(body)
	if err != nil {
		w.log.Warn("trigger: malformed webhook payload", "remote", r.RemoteAddr, "err", err)
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	var keep []Event
	for _, e := range evs {
		if !w.cfg.Filter.Match(e) {
			w.log.Info("trigger: webhook event ignored: not this site's bucket/prefix", "bucket", e.Bucket, "key", e.Key)
			continue
		}
		e.Origin = "webhook"
		e.Received = time.Now()
		keep = append(keep, e)
	}
	for i, e := range keep {
		select {
		case w.events <- e:
		default:
			w.log.Warn("trigger: webhook backlog full, asking the sender to retry", "dropped", len(keep)-i)
			http.Error(rw, "backlog full", http.StatusServiceUnavailable)
			return
		}
	}
	rw.WriteHeader(http.StatusOK)
}

// Run forwards accepted events to out until ctx is done; it returns
// ctx.Err(). Serve the handler (ServeHTTP) separately.
func (w *Webhook) Run(ctx context.Context, out chan<- Event) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-w.events:
			select {
			case out <- e:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

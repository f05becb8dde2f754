package daemon

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

// newLogHandler returns the daemon's log handler: slog's text format on w.
// With journal (stderr is connected to journald: JOURNAL_STREAM is set)
// the time is left out, journald stamps it, and every line starts with
// the sd-daemon priority prefix of its level (<3> error, <4> warning,
// <6> info, <7> debug), so `journalctl -p warning` shows warnings and
// errors. Handlers derived with WithAttrs/WithGroup share w; records are
// written whole, one line each, safe for concurrent use.
func newLogHandler(w io.Writer, level slog.Leveler, journal bool) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if !journal {
		return slog.NewTextHandler(w, opts)
	}
	opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	pw := &prioWriter{w: w}
	return &journalHandler{inner: slog.NewTextHandler(pw, opts), pw: pw}
}

// journalPriority is the syslog priority of a slog level.
func journalPriority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}

// prioWriter writes each record (one Write by the text handler) after the
// priority set for it.
type prioWriter struct {
	mu     sync.Mutex // held by journalHandler.Handle around the inner Handle
	w      io.Writer
	prefix string
}

func (p *prioWriter) Write(b []byte) (int, error) {
	buf := make([]byte, 0, len(p.prefix)+len(b))
	buf = append(append(buf, p.prefix...), b...)
	if _, err := p.w.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

type journalHandler struct {
	inner slog.Handler
	pw    *prioWriter
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.pw.mu.Lock()
	defer h.pw.mu.Unlock()
	h.pw.prefix = journalPriority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), pw: h.pw}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), pw: h.pw}
}

package daemon

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// TestJournalPriorities: with journal on, every line starts with the
// sd-daemon priority of its level and carries no time; derived loggers
// and concurrent writers keep whole lines with the right prefix.
func TestJournalPriorities(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newLogHandler(&buf, slog.LevelDebug, true))
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.Error("e", "err", "multi\nline")
	log.With("site", "www").WithGroup("g").Warn("w2", "k", 1)
	want := []string{
		`<7>level=DEBUG msg=d`,
		`<6>level=INFO msg=i`,
		`<4>level=WARN msg=w`,
		`<3>level=ERROR msg=e err="multi\nline"`,
		`<4>level=WARN msg=w2 site=www g.k=1`,
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), strings.Join(want, "\n"))
	}

	buf.Reset()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := log.With("n", i)
			for range 50 {
				if i%2 == 0 {
					l.Info("even")
				} else {
					l.Error("odd")
				}
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "<6>level=INFO msg=even ") && !strings.HasPrefix(l, "<3>level=ERROR msg=odd ") {
			t.Fatalf("line %q", l)
		}
	}

	// Without journald: slog's text format, with the time, no prefix.
	buf.Reset()
	slog.New(newLogHandler(&buf, slog.LevelInfo, false)).Warn("w")
	if !strings.HasPrefix(buf.String(), "time=") || !strings.Contains(buf.String(), "level=WARN msg=w") {
		t.Errorf("plain: %q", buf.String())
	}
}

package control

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

// streamer is a service.Local that streams its journal, as the daemon's
// service does.
type streamer struct{ *service.Local }

func (s streamer) Events(ctx context.Context, req api.EventsRequest) (func(context.Context, func(api.EventLine) error) error, error) {
	st, err := s.Status(ctx, req.Target)
	if err != nil {
		return nil, err
	}
	store, err := releases.Open(st.Root)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, emit func(api.EventLine) error) error {
		return store.FollowJournal(ctx, req.Limit, req.Follow, 5*time.Millisecond, func(ev releases.Event) error {
			return emit(api.EventLine{Schema: api.Schema, Site: req.Site, Event: ev})
		})
	}, nil
}

func TestEventsNotSupported(t *testing.T) {
	f := start(t, "")
	err := f.client.Events(context.Background(), api.EventsRequest{}, func(api.EventLine) error { return nil })
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("err = %v, want not found", err)
	}
}

func TestEventsRequestErrors(t *testing.T) {
	local := &service.Local{Sites: map[string]*service.Site{"www": {Name: "www", Root: t.TempDir()}}, Via: "daemon"}
	s := &Server{Service: streamer{local}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for q, want := range map[string]int{
		"follow=yes": http.StatusBadRequest, "limit=-1": http.StatusBadRequest, "site=nope": http.StatusNotFound,
		"site=www": http.StatusOK,
	} {
		req := httptest.NewRequest("GET", "http://"+Host+"/v0/events?"+q, nil)
		req.Header.Set(APIHeader, APIVersion)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s: status %d, want %d: %s", q, rec.Code, want, rec.Body)
		}
		if want == http.StatusOK && rec.Header().Get("Content-Type") != client.EventsType {
			t.Errorf("%s: Content-Type %q", q, rec.Header().Get("Content-Type"))
		}
	}
}

// A follow stream sees new events, and ends cleanly (not cut) when the
// server shuts down.
func TestEventsFollowAndShutdown(t *testing.T) {
	root := filepath.Join(t.TempDir(), "www")
	os.MkdirAll(root, 0o755)
	local := &service.Local{Sites: map[string]*service.Site{"www": {Name: "www", Root: root}}, Via: "daemon"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Server{Service: streamer{local}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Context: ctx}
	sock := filepath.Join(t.TempDir(), "c.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, time.Minute) }()
	store, err := releases.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	store.Append(releases.Event{Event: releases.EvPinned, Release: "v1"})
	c := &client.Client{Socket: sock}
	got := make(chan api.EventLine, 10)
	ended := make(chan error, 1)
	go func() {
		ended <- c.Events(context.Background(), api.EventsRequest{Target: api.Target{Site: "www"}, Follow: true},
			func(ev api.EventLine) error { got <- ev; return nil })
	}()
	next := func() api.EventLine {
		t.Helper()
		select {
		case ev := <-got:
			return ev
		case <-time.After(20 * time.Second):
			t.Fatal("no event")
		}
		return api.EventLine{}
	}
	if ev := next(); ev.Event.Event != releases.EvPinned || ev.Site != "www" {
		t.Fatalf("first: %+v", ev)
	}
	store.Append(releases.Event{Event: releases.EvUnpinned, Release: "v1"})
	if ev := next(); ev.Event.Event != releases.EvUnpinned {
		t.Fatalf("followed: %+v", ev)
	}
	cancel()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("stream ended with %v, want a clean end", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the follow stream outlived the server's context")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

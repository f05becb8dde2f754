package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

// site writes a tiny valid site into a new directory and returns it.
func site(t *testing.T, title string) string {
	t.Helper()
	dir := t.TempDir()
	page := "<!doctype html><html><head><title>" + title + "</title></head><body><h1>" + title + "</h1></body></html>\n"
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type fixture struct {
	root   string
	sock   string
	srv    *Server
	local  *service.Local
	client *client.Client
}

// start serves a real service.Local on a real unix socket.
func start(t *testing.T, group string) *fixture {
	t.Helper()
	f := &fixture{root: filepath.Join(t.TempDir(), "www"), sock: filepath.Join(t.TempDir(), "control.sock")}
	if err := os.MkdirAll(f.root, 0o755); err != nil {
		t.Fatal(err)
	}
	f.local = &service.Local{Sites: map[string]*service.Site{"www": {Name: "www", Root: f.root}}, Via: "daemon"}
	f.srv = &Server{Service: f.local, WriteGroup: group, Version: "test-1",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ln, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	f.client = &client.Client{Socket: f.sock}
	return f
}

func TestClientRoundTrip(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the round trip deploys as a writer: run as root (or as the daemon's uid, which this test is)")
	}
	f := start(t, "")
	ctx := context.Background()
	c := f.client
	if v, err := c.Ping(ctx); err != nil || v != "test-1" {
		t.Fatalf("Ping = %q, %v", v, err)
	}
	d1, err := c.Deploy(ctx, api.DeployRequest{Target: api.Target{Site: "www"}, Source: site(t, "one"), Activate: true})
	if err != nil {
		t.Fatalf("deploy 1: %v", err)
	}
	d2, err := c.Deploy(ctx, api.DeployRequest{Source: site(t, "two"), Activate: true})
	if err != nil {
		t.Fatalf("deploy 2: %v", err)
	}
	if !d2.Activated || d2.Previous != d1.Release.ID {
		t.Errorf("deploy 2 = %+v", d2)
	}
	st, err := c.Status(ctx, api.Target{Site: "www"})
	if err != nil || st.Current == nil || st.Current.ID != d2.Release.ID {
		t.Fatalf("status = %+v, %v", st, err)
	}
	rb, err := c.Rollback(ctx, api.ActivateRequest{Reason: "test"})
	if err != nil || rb.From != d2.Release.ID || rb.To != d1.Release.ID {
		t.Fatalf("rollback = %+v, %v", rb, err)
	}
	if cur, _ := os.Readlink(filepath.Join(f.root, "current")); cur != "releases/"+d1.Release.ID {
		t.Errorf("current -> %q after rollback", cur)
	}
	ls, err := c.List(ctx, api.Target{})
	if err != nil || len(ls.Releases) != 2 || ls.Current != d1.Release.ID {
		t.Errorf("list = %+v, %v", ls, err)
	}
	h, err := c.History(ctx, api.Target{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rolled *releases.Event
	for i := range h.Events {
		if h.Events[i].Event == releases.EvRolledBack {
			rolled = &h.Events[i]
		}
	}
	if rolled == nil {
		t.Fatalf("no rolled-back event in %+v", h.Events)
	}
	// The journal names the peer of the socket: this process.
	if rolled.Who.Via != "control" || rolled.Who.UID != os.Getuid() || rolled.Who.PID != os.Getpid() {
		t.Errorf("who = %+v, want via control, uid %d, pid %d", rolled.Who, os.Getuid(), os.Getpid())
	}
	if _, err := c.Diff(ctx, api.Target{}, d1.Release.ID, d2.Release.ID); err != nil {
		t.Errorf("diff: %v", err)
	}
	if _, err := c.Pin(ctx, api.PinRequest{ID: d1.Release.ID, Pin: true}); err != nil {
		t.Errorf("pin: %v", err)
	}
	if _, err := c.Prune(ctx, api.PruneRequest{Keep: 1, DryRun: true}); err != nil {
		t.Errorf("prune: %v", err)
	}
	// Errors come back as api.Error and keep their sentinels.
	_, err = c.Activate(ctx, api.ActivateRequest{ID: "v99"})
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("activate v99: %v, want ErrNotFound", err)
	}
	_, err = c.Status(ctx, api.Target{Site: "nope"})
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("status of unknown site: %v", err)
	}
	_, err = c.Deploy(ctx, api.DeployRequest{})
	if !errors.Is(err, api.ErrUsage) || api.ErrorOf(err).Exit != api.ExitUsage {
		t.Errorf("deploy without source: %v", err)
	}
}

func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	c := &client.Client{Socket: sock}
	_, err := c.Status(context.Background(), api.Target{})
	if !errors.Is(err, client.ErrNoDaemon) {
		t.Fatalf("err = %v, want ErrNoDaemon", err)
	}
	want := "failed to connect to release-agent at " + sock + "; it doesn't appear to be running (sudo systemctl start release-agent ?)"
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	// A stale socket file (daemon died) is the same.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := c.List(context.Background(), api.Target{}); !errors.Is(err, client.ErrNoDaemon) {
		t.Errorf("stale socket: %v, want ErrNoDaemon", err)
	}
}

func TestZeroClientUsesDefaultSocket(t *testing.T) {
	var c client.Client
	_, err := c.Status(context.Background(), api.Target{})
	var de *client.DialError
	if !errors.As(err, &de) || de.Socket != client.DefaultSocket {
		if err == nil {
			t.Skip("a release-agent is running on this machine")
		}
		t.Errorf("err = %v, want a DialError for %s", err, client.DefaultSocket)
	}
}

// raw sends one request over the socket without the client.
func raw(t *testing.T, sock string, method, host, path string, hdr map[string]string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequest(method, "http://"+host+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get(VersionHeader) != "test-1" {
		t.Errorf("%s %s: no %s header", method, path, VersionHeader)
	}
	return resp.StatusCode, string(b)
}

func TestRefusesBrowsersAndStrangers(t *testing.T) {
	f := start(t, "")
	api0 := map[string]string{APIHeader: APIVersion}
	if code, body := raw(t, f.sock, "GET", Host, "/v0/status", api0); code != 200 {
		t.Fatalf("plain status: %d %s", code, body)
	}
	for name, tc := range map[string]struct {
		host string
		hdr  map[string]string
		want string
	}{
		"wrong host":     {"localhost", api0, "Host"},
		"origin":         {Host, map[string]string{APIHeader: APIVersion, "Origin": "http://evil.example"}, "Origin"},
		"referer":        {Host, map[string]string{APIHeader: APIVersion, "Referer": "http://evil.example/"}, "Referer"},
		"no api header":  {Host, nil, APIHeader},
		"wrong api vers": {Host, map[string]string{APIHeader: "v9"}, APIHeader},
	} {
		code, body := raw(t, f.sock, "POST", tc.host, "/v0/rollback", tc.hdr)
		if code != http.StatusForbidden || !strings.Contains(body, tc.want) || !strings.Contains(body, `"code":"denied"`) {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	if code, _ := raw(t, f.sock, "GET", Host, "/v0/nope", api0); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
	if code, _ := raw(t, f.sock, "GET", Host, "/v0/rollback", api0); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of a POST path: %d", code)
	}
}

// TestReaderPermissions runs the handler with the peer credentials of a
// uid that is neither root nor in the write group.
func TestReaderPermissions(t *testing.T) {
	f := start(t, "")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	reader := Peer{UID: uid, GID: gid, PID: 1, User: "nobody"}
	if f.srv.mayWrite(reader) {
		t.Fatal("nobody may write with no write group")
	}
	g, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Fatal(err)
	}
	if !(&Server{WriteGroup: g.Name}).mayWrite(reader) {
		t.Errorf("nobody is not a writer with write group %s (its primary group)", g.Name)
	}
	if !f.srv.mayWrite(Peer{UID: 0}) {
		t.Error("root is not a writer")
	}

	h := f.srv.Handler()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequestWithContext(context.WithValue(context.Background(), peerKey{}, reader),
			method, "http://"+Host+path, strings.NewReader(body))
		req.Header.Set(APIHeader, APIVersion)
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, req)
		return rec.code, rec.body.String()
	}
	for p, req := range map[string]string{"/v0/rollback": `{}`, "/v0/activate": `{"id":"v1"}`,
		"/v0/pin": `{"id":"v1","pin":true}`, "/v0/deploy": `{"source":"/x","activate":true}`} {
		code, body := do("POST", p, req)
		if code != http.StatusForbidden || !strings.Contains(body, "you are nobody") {
			t.Errorf("reader %s: %d %s", p, code, body)
		}
	}
	if code, body := do("POST", "/v0/prune", `{"keep":1}`); code != http.StatusForbidden {
		t.Errorf("reader prune: %d %s", code, body)
	}
	if code, body := do("POST", "/v0/prune", `{"keep":1,"dry_run":true}`); code != 200 {
		t.Errorf("reader prune --dry-run: %d %s", code, body)
	}
	if code, body := do("POST", "/v0/validate", `{"path":"/etc"}`); code != http.StatusForbidden {
		t.Errorf("reader validate of a directory: %d %s", code, body)
	}
	if code, body := do("GET", "/v0/status", ""); code != 200 {
		t.Errorf("reader status: %d %s", code, body)
	}
	if code, body := do("POST", "/v0/rollback", `{"bogus":1}`); code != http.StatusBadRequest || !strings.Contains(body, "bogus") {
		t.Errorf("unknown field: %d %s", code, body)
	}
}

type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) { r.code = code }

func TestStatusOf(t *testing.T) {
	for code, want := range map[string]int{"usage": 400, "denied": 403, "not_found": 404, "locked": 409, "rejected": 422, "failed": 500, "": 500} {
		if got := StatusOf(code); got != want {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, want)
		}
	}
}

// TestJSONBodyLimit: a JSON request over 1 MiB gets 413 with an api.Error
// naming the limit (it got "unexpected EOF" from a silently cut body).
func TestJSONBodyLimit(t *testing.T) {
	f := start(t, "")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", f.sock)
	}}}
	body := `{"source":"` + strings.Repeat("a", 2<<20) + `","activate":true}`
	req, err := http.NewRequest("POST", "http://"+Host+"/v0/deploy", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(APIHeader, APIVersion)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("413 body is not an api.Error: %v", err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(e.Message, "request too large") ||
		!strings.Contains(e.Message, "1048576") || e.Code != "usage" || e.Exit != api.ExitUsage {
		t.Errorf("2 MiB JSON body: %d %+v; want 413 naming the limit", resp.StatusCode, e)
	}
	// Just under the limit is decoded (and then refused for what it says).
	small := `{"source":"` + strings.Repeat("a", MaxJSONBody-100) + `"}`
	code, msg := rawBody(t, hc, "/v0/deploy", small)
	if code == http.StatusRequestEntityTooLarge || strings.Contains(msg, "too large") {
		t.Errorf("body under the limit: %d %s", code, msg)
	}
}

func rawBody(t *testing.T, hc *http.Client, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+Host+path, strings.NewReader(body))
	req.Header.Set(APIHeader, APIVersion)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClaimCapped: the caller's SSH client and sudo user are recorded as
// sent, cut to 256 bytes.
func TestClaimCapped(t *testing.T) {
	r := httptest.NewRequest("POST", "/v0/deploy", nil)
	r.Header.Set(SSHClientHeader, "192.0.2.7 50000 22")
	r.Header.Set(SudoUserHeader, strings.Repeat("x", 10000))
	if got := claim(r, SSHClientHeader); got != "192.0.2.7 50000 22" {
		t.Errorf("ssh client = %q", got)
	}
	if got := claim(r, SudoUserHeader); len(got) != 256 {
		t.Errorf("a 10000-byte sudo user is recorded as %d bytes, want 256", len(got))
	}
}

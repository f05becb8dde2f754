// Package control is the server side of release-agent's control API:
// HTTP+JSON over a unix socket, paths under /v0/, wrapping an api.Service.
// Package client is its typed client.
//
// # Protocol
//
// Every request goes to the fixed host "release-agent" and carries the
// header Release-Agent-API: v0; a request without it, with another Host,
// or with an Origin or Referer header (a browser) is refused with 403, so no
// web page can drive the socket. Reads are GET with the target in the query
// (site=, root=); changes are POST with the api request document as JSON.
// Failures answer with an api.Error document and a status derived from its
// code (400 usage, 403 denied, 404 not_found, 409 locked, 422 rejected,
// 500 failed). Every response carries Release-Agent-Version.
//
//	GET  /v0/status  /v0/list  /v0/history?limit=N  /v0/diff?a=vA&b=vB  /v0/manifest?id=vN  /v0/sites
//	GET  /v0/events?limit=N&follow=1   (NDJSON stream of the journal, see EventStreamer)
//	POST /v0/deploy  /v0/activate  /v0/rollback  /v0/prune  /v0/pin  /v0/validate  /v0/canary
//
// # Permissions
//
// The server reads the peer's credentials with SO_PEERCRED when a
// connection is accepted. Root, the daemon's own uid, and members (primary
// or supplementary) of the configured write group may change things;
// everyone else may read (status, list, history, diff, sites, prune with
// dry_run, validate of a release id). The peer becomes the "who" of every
// change (service.WithWho): uid, user name and pid, plus the SSH_CLIENT and
// SUDO_USER the client reports in headers (recorded as the client's claim,
// never used for decisions).
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/releases"
)

// Protocol constants, defined by package client (which the CLI links
// without the server).
const (
	Host            = client.Host
	APIHeader       = client.APIHeader
	APIVersion      = client.APIVersion
	VersionHeader   = client.VersionHeader
	SSHClientHeader = client.SSHClientHeader
	SudoUserHeader  = client.SudoUserHeader
)

// SiteInfo and SitesResult are the document of GET /v0/sites.
type (
	SiteInfo    = client.SiteInfo
	SitesResult = client.SitesResult
)

// Server serves the control API. Set the fields before calling Handler or
// Serve; they must not change afterwards. A Server is safe for concurrent
// use.
type Server struct {
	Service api.Service
	// WriteGroup names the group whose members may change things (besides
	// root and the daemon's uid). "" allows only those two.
	WriteGroup string
	// Version is sent in every response's Release-Agent-Version header.
	Version string
	// Sites lists the configured sites for GET /v0/sites (optional).
	Sites func() []SiteInfo
	// Log receives one line per request that changes something, and per
	// refused request. Nil means slog.Default().
	Log *slog.Logger
	// Context bounds operations that change something: they are not
	// cancelled when the client disconnects (a deploy finishes or fails
	// cleanly), only when Context is. Nil means context.Background().
	Context context.Context
}

// Peer is the process at the other end of a connection.
type Peer struct {
	UID, GID, PID int
	User          string
	Writer        bool
}

type peerKey struct{}

// PeerFrom returns the peer of the connection a request came on.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// ErrNoCredentials is returned when a connection's peer credentials
// cannot be read (not a unix socket).
var ErrNoCredentials = errors.New("no peer credentials on this connection")

// PeerOf reads the SO_PEERCRED credentials of a unix socket connection.
func PeerOf(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("%w (%T)", ErrNoCredentials, c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return Peer{}, fmt.Errorf("peer credentials: getsockopt SO_PEERCRED: %w", cerr)
	}
	p := Peer{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}
	if u, err := user.LookupId(strconv.Itoa(p.UID)); err == nil {
		p.User = u.Username
	}
	return p, nil
}

// mayWrite decides whether p may change things.
func (s *Server) mayWrite(p Peer) bool {
	if p.UID == 0 || p.UID == os.Getuid() {
		return true
	}
	if s.WriteGroup == "" {
		return false
	}
	g, err := user.LookupGroup(s.WriteGroup)
	if err != nil {
		s.log().Warn("control: write group not found; only root may change things", "group", s.WriteGroup, "err", err)
		return false
	}
	if strconv.Itoa(p.GID) == g.Gid {
		return true
	}
	u, err := user.LookupId(strconv.Itoa(p.UID))
	if err != nil {
		return false
	}
	gids, err := u.GroupIds()
	if err != nil {
		return false
	}
	for _, id := range gids {
		if id == g.Gid {
			return true
		}
	}
	return false
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Serve accepts connections on ln until ctx is cancelled, then shuts the
// server down: it stops accepting at once, waits for requests in flight
// up to grace, and returns nil; other errors of ln are returned.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			p, err := PeerOf(c)
			if err != nil {
				return ctx
			}
			return context.WithValue(ctx, peerKey{}, p)
		},
		ErrorLog: slog.NewLogLogger(s.log().Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

// Handler returns the HTTP handler of the API. Requests must come through
// Serve (or a server setting the same ConnContext) to be attributed to a
// peer; without peer credentials every request is read-only.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	read := func(pattern string, h func(ctx context.Context, r *http.Request, t api.Target) (any, error)) {
		mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			res, err := h(r.Context(), r, api.Target{Site: q.Get("site"), Root: q.Get("root")})
			s.reply(w, r, res, err)
		})
	}
	read("/v0/status", func(ctx context.Context, _ *http.Request, t api.Target) (any, error) { return s.Service.Status(ctx, t) })
	read("/v0/list", func(ctx context.Context, _ *http.Request, t api.Target) (any, error) { return s.Service.List(ctx, t) })
	read("/v0/history", func(ctx context.Context, r *http.Request, t api.Target) (any, error) {
		limit := 0
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, api.Usagef("limit %q is not a count", v)
			}
			limit = n
		}
		return s.Service.History(ctx, t, limit)
	})
	read("/v0/diff", func(ctx context.Context, r *http.Request, t api.Target) (any, error) {
		q := r.URL.Query()
		return s.Service.Diff(ctx, t, q.Get("a"), q.Get("b"))
	})
	read("/v0/manifest", func(ctx context.Context, r *http.Request, t api.Target) (any, error) {
		return s.Service.Manifest(ctx, t, r.URL.Query().Get("id"))
	})
	mux.HandleFunc("GET /v0/events", s.serveEvents) // NDJSON stream, see events.go
	read("/v0/sites", func(context.Context, *http.Request, api.Target) (any, error) {
		res := &SitesResult{Schema: api.Schema, Version: s.Version, Sites: []SiteInfo{}}
		if s.Sites != nil {
			res.Sites = s.Sites()
		}
		return res, nil
	})

	// write registers a POST handler; allowRead reports whether a reader
	// may make this particular request (dry runs, validating a release).
	write := func(pattern string, newReq func() any, allowRead func(req any) bool, h func(ctx context.Context, req any) (any, error)) {
		mux.HandleFunc("POST "+pattern, func(w http.ResponseWriter, r *http.Request) {
			var req any
			var err error
			if pattern == "/v0/deploy" {
				req, err = DecodeDeploy(r)
			} else {
				req = newReq()
				err = decodeJSON(r.Body, pattern, req)
			}
			var tooLarge *tooLargeError
			if errors.As(err, &tooLarge) {
				writeJSON(w, http.StatusRequestEntityTooLarge, api.ErrorOf(err))
				return
			}
			if err != nil {
				s.reply(w, r, nil, err)
				return
			}
			p, ok := PeerFrom(r.Context())
			writer := ok && s.mayWrite(p)
			if !writer && (allowRead == nil || !allowRead(req)) {
				s.reply(w, r, nil, s.denied(p, ok, pattern))
				return
			}
			ctx := r.Context()
			if writer {
				// Changes run to the end even if the client goes away.
				base := s.Context
				if base == nil {
					base = context.Background()
				}
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
				defer cancel()
				stop := context.AfterFunc(base, cancel)
				defer stop()
				ctx = service.WithWho(ctx, releases.Who{UID: p.UID, User: p.User, PID: p.PID, Via: "control",
					SSHClient: claim(r, SSHClientHeader), SudoUser: claim(r, SudoUserHeader)})
			}
			start := time.Now()
			res, err := h(ctx, req)
			if writer {
				s.log().Info("control: "+pattern, "uid", p.UID, "user", p.User, "pid", p.PID,
					"seconds", time.Since(start).Seconds(), "err", err)
			}
			s.reply(w, r, res, err)
		})
	}
	write("/v0/deploy", func() any { return new(api.DeployRequest) }, nil, func(ctx context.Context, req any) (any, error) {
		d := req.(*api.DeployRequest)
		if err := CheckDeploy(d); err != nil {
			return nil, err
		}
		return s.Service.Deploy(ctx, *d)
	})
	write("/v0/activate", func() any { return new(api.ActivateRequest) }, nil, func(ctx context.Context, req any) (any, error) {
		return s.Service.Activate(ctx, *req.(*api.ActivateRequest))
	})
	write("/v0/rollback", func() any { return new(api.ActivateRequest) }, nil, func(ctx context.Context, req any) (any, error) {
		return s.Service.Rollback(ctx, *req.(*api.ActivateRequest))
	})
	write("/v0/prune", func() any { return new(api.PruneRequest) },
		func(req any) bool { return req.(*api.PruneRequest).DryRun },
		func(ctx context.Context, req any) (any, error) { return s.Service.Prune(ctx, *req.(*api.PruneRequest)) })
	write("/v0/pin", func() any { return new(api.PinRequest) }, nil, func(ctx context.Context, req any) (any, error) {
		return s.Service.Pin(ctx, *req.(*api.PinRequest))
	})
	write("/v0/canary", func() any { return new(api.CanaryRequest) }, nil, func(ctx context.Context, req any) (any, error) {
		return s.Service.Canary(ctx, *req.(*api.CanaryRequest))
	})
	write("/v0/validate", func() any { return new(api.ValidateRequest) },
		// A reader may validate a release, not make the daemon read a
		// directory of its choosing.
		func(req any) bool { _, ok := releases.ParseID(req.(*api.ValidateRequest).Path); return ok },
		func(ctx context.Context, req any) (any, error) {
			vr := *req.(*api.ValidateRequest)
			if _, ok := releases.ParseID(vr.Path); !ok {
				// Nobody, writers included, makes the daemon read a
				// directory with its rights: releasectl validates one
				// itself, with the caller's.
				return nil, fmt.Errorf("%w: validate %s: %w (releasectl validates a directory itself)", api.ErrDenied, vr.Path, ErrLocalPath)
			}
			return s.Service.Validate(ctx, vr)
		})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(VersionHeader, s.Version)
		switch {
		case r.Host != Host:
			s.refuse(w, r, fmt.Sprintf("Host %q is not %q", r.Host, Host))
		case r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "":
			s.refuse(w, r, "requests from browsers (Origin or Referer header) are not accepted")
		case r.Header.Get(APIHeader) != APIVersion:
			s.refuse(w, r, fmt.Sprintf("header %s: %q, want %q (client and daemon versions differ?)", APIHeader, r.Header.Get(APIHeader), APIVersion))
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// MaxJSONBody is the largest JSON request body accepted (1 MiB). It
// bounds JSON documents only: a streamed deploy's body (an artifact) is
// not decoded as JSON and is bounded by the extraction limits.
const MaxJSONBody = 1 << 20

// tooLargeError is a JSON request body over MaxJSONBody: 413.
type tooLargeError struct{ error }

func (e *tooLargeError) Unwrap() error { return e.error }

// decodeJSON decodes the JSON request body of pattern into req: at most
// MaxJSONBody bytes (over it, a *tooLargeError), no unknown field.
func decodeJSON(body io.ReadCloser, pattern string, req any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, body, MaxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(req)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &tooLargeError{api.Usagef("request body of %s: request too large: over the limit of %d bytes (1 MiB) for a JSON request", pattern, tooBig.Limit)}
	case err != nil:
		return api.Usagef("request body of %s: %v", pattern, err)
	case dec.More():
		return api.Usagef("request body of %s: more than one JSON document", pattern)
	}
	return nil
}

// ErrLocalPath is wrapped by the refusal of a deploy that names a local
// path without sending it.
var ErrLocalPath = errors.New("the daemon does not read local paths for callers; releasectl streams them")

// DecodeDeploy decodes a POST /v0/deploy request: a streamed deploy
// (Content-Type application/octet-stream, the api.DeployRequest in header
// Release-Agent-Request, the artifact as the body, which becomes Stream),
// or a JSON body (which CheckDeploy then allows only for s3:// sources).
func DecodeDeploy(r *http.Request) (*api.DeployRequest, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == client.StreamType {
		req, err := client.DecodeRequest(r.Header.Get(client.RequestHeader))
		if err != nil {
			return nil, api.Usagef("%v", err)
		}
		req.Stream = r.Body
		return &req, nil
	}
	req := new(api.DeployRequest)
	if err := decodeJSON(r.Body, "/v0/deploy", req); err != nil {
		return nil, err
	}
	return req, nil
}

// CheckDeploy refuses a deploy that names a local path without sending
// it: the daemon never opens a local path on behalf of a caller (it would
// read it with its own rights, not the caller's).
func CheckDeploy(req *api.DeployRequest) error {
	if req.Stream == nil && req.Source != "" && ingest.IsLocal(req.Source) {
		return fmt.Errorf("%w: deploy %s: %w (send the artifact as the request body: see package api)", api.ErrDenied, req.Source, ErrLocalPath)
	}
	return nil
}

func (s *Server) denied(p Peer, known bool, pattern string) error {
	if !known {
		return fmt.Errorf("%w: %s changes the store and the peer of this connection is unknown", api.ErrDenied, pattern)
	}
	who := p.User
	if who == "" {
		who = "uid " + strconv.Itoa(p.UID)
	}
	if s.WriteGroup == "" {
		return fmt.Errorf("%w: %s changes the store; only root may (you are %s)", api.ErrDenied, pattern, who)
	}
	return fmt.Errorf("%w: %s changes the store; only root and members of group %s may (you are %s)", api.ErrDenied, pattern, s.WriteGroup, who)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, why string) {
	s.log().Warn("control: refused request", "path", r.URL.Path, "why", why)
	writeJSON(w, http.StatusForbidden, &api.Error{Schema: api.Schema, Code: "denied", Message: "release-agent control API: " + why, Exit: api.ExitFailed})
}

var statusOf = map[string]int{
	"usage": http.StatusBadRequest, "denied": http.StatusForbidden, "not_found": http.StatusNotFound,
	"locked": http.StatusConflict, "rejected": http.StatusUnprocessableEntity,
}

// StatusOf returns the HTTP status for an api.Error code.
func StatusOf(code string) int {
	if st, ok := statusOf[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, res any, err error) {
	if err != nil {
		e := api.ErrorOf(err)
		writeJSON(w, StatusOf(e.Code), e)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(&api.Error{Schema: api.Schema, Code: "failed", Message: "encoding the response: " + err.Error(), Exit: api.ExitFailed})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// claim returns the caller-supplied header h, cut to 256 bytes: it is
// recorded as the caller's word (journal, records) and never trusted, and
// one journal line must not grow by whatever a caller sends.
func claim(r *http.Request, h string) string {
	v := r.Header.Get(h)
	if len(v) > 256 {
		v = strings.ToValidUTF8(v[:256], "")
	}
	return v
}

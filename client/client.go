// Package client is the typed Go client of release-agent's control API
// (HTTP+JSON over a unix socket; the server is package control). releasectl
// and the tests use it; it implements api.Service.
//
// The zero Client works: it dials DefaultSocket. Every method takes ctx
// first and returns the api documents or an error; a failed request
// returns an *api.Error, so errors.Is(err, api.ErrRejected) and the other
// sentinels work as with the local implementation. When nothing listens on
// the socket, every method returns an error wrapping ErrNoDaemon, with a
// message saying how to start the daemon; releasectl branches on it to work
// on the store directly. A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf16"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/releases"
)

// DefaultSocket is the control socket of the packaged service.
const DefaultSocket = "/run/release-agent/control.sock"

// Protocol constants shared with package control.
const (
	// Host is the fixed fake host every request is addressed to.
	Host = "release-agent"
	// APIHeader carries APIVersion in every request.
	APIHeader  = "Release-Agent-API"
	APIVersion = "v0"
	// VersionHeader carries the daemon's version in every response.
	VersionHeader = "Release-Agent-Version"
	// SSHClientHeader and SudoUserHeader carry the caller's SSH_CLIENT (or
	// SSH_CONNECTION, see releases.SSHClientEnv) and
	// SUDO_USER into the journal (as the caller's claim).
	SSHClientHeader = "Release-Agent-SSH-Client"
	SudoUserHeader  = "Release-Agent-Sudo-User"
	// RequestHeader carries the api.DeployRequest of a streamed deploy
	// (see EncodeRequest); the body is then the artifact, of type
	// StreamType.
	RequestHeader = "Release-Agent-Request"
	StreamType    = "application/octet-stream"
	// MaxRequestHeader bounds the encoded request in RequestHeader.
	MaxRequestHeader = 64 << 10
)

// ErrNoDaemon is wrapped by every error of a Client whose socket nobody
// listens on (missing socket, connection refused).
var ErrNoDaemon = api.ErrNoDaemon

// DialError is the error of a connection to the socket that failed.
type DialError struct {
	Socket string
	Err    error
}

func (e *DialError) Error() string {
	if errors.Is(e.Err, syscall.EACCES) || errors.Is(e.Err, syscall.EPERM) {
		return fmt.Sprintf("permission denied connecting to release-agent at %s (are you in group release-agent?)", e.Socket)
	}
	return fmt.Sprintf("failed to connect to release-agent at %s; it doesn't appear to be running (sudo systemctl start release-agent ?)", e.Socket)
}

// Unwrap returns ErrNoDaemon when the daemon is not there (but not when
// the socket exists and refuses the caller: api.ErrDenied), and the
// underlying error.
func (e *DialError) Unwrap() []error {
	if errors.Is(e.Err, syscall.EACCES) || errors.Is(e.Err, syscall.EPERM) {
		return []error{api.ErrDenied, e.Err}
	}
	return []error{ErrNoDaemon, e.Err}
}

// SiteInfo is one site as listed by Sites.
type SiteInfo struct {
	Name       string `json:"name"`
	Root       string `json:"root"`
	Current    string `json:"current"`
	InProgress string `json:"in_progress,omitempty"`
}

// SitesResult is the document of GET /v0/sites.
type SitesResult struct {
	Schema  int        `json:"schema"`
	Version string     `json:"version"`
	Sites   []SiteInfo `json:"sites"`
}

// Client talks to release-agent over its control socket.
type Client struct {
	// Socket is the path of the control socket; "" means DefaultSocket.
	Socket string
	// Dial, if set, replaces dialing Socket (tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	once sync.Once
	hc   *http.Client
}

func (c *Client) socket() string {
	if c.Socket != "" {
		return c.Socket
	}
	return DefaultSocket
}

func (c *Client) http() *http.Client {
	c.once.Do(func() {
		sock := c.socket()
		dial := c.Dial
		if dial == nil {
			var d net.Dialer
			dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", sock)
			}
		}
		c.hc = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dial(ctx, network, addr)
				if err != nil {
					return nil, &DialError{Socket: sock, Err: err}
				}
				return conn, nil
			},
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
			// A streamed deploy asks "Expect: 100-continue": a refusal
			// (denied, locked) then comes back before the artifact is sent.
			ExpectContinueTimeout: 30 * time.Second,
		}}
	})
	return c.hc
}

// Ping checks that the daemon answers and returns its version.
func (c *Client) Ping(ctx context.Context) (string, error) {
	res, err := c.Sites(ctx)
	if err != nil {
		return "", err
	}
	return res.Version, nil
}

// Sites lists the daemon's configured sites with their live release and
// what is in progress.
func (c *Client) Sites(ctx context.Context) (*SitesResult, error) {
	var res SitesResult
	return &res, c.get(ctx, "/v0/sites", nil, &res)
}

func query(t api.Target) url.Values {
	q := url.Values{}
	if t.Site != "" {
		q.Set("site", t.Site)
	}
	if t.Root != "" {
		q.Set("root", t.Root)
	}
	return q
}

func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	u := "http://" + Host + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return c.do(req, out)
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+Host+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, out)
}

// send sends req with the API version and the caller's SSH client and
// sudo user, and returns the response if its status is 200. Any other
// status is returned as the daemon's *api.Error (or an error quoting the
// body), and a socket nobody listens on as the *DialError.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	req.Header.Set(APIHeader, APIVersion)
	if v := releases.SSHClientEnv(os.Getenv); v != "" {
		req.Header.Set(SSHClientHeader, v)
	}
	if v := os.Getenv("SUDO_USER"); v != "" {
		req.Header.Set(SudoUserHeader, v)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		var de *DialError
		if errors.As(err, &de) {
			return nil, de
		}
		return nil, fmt.Errorf("release-agent at %s: %s %s: %w", c.socket(), req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e api.Error
		if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
			return nil, fmt.Errorf("release-agent at %s: %s: HTTP %d: %s", c.socket(), req.URL.Path, resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil, &e
	}
	return resp, nil
}

func (c *Client) do(req *http.Request, out any) error {
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("release-agent at %s: %s: reading the response: %w", c.socket(), req.URL.Path, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("release-agent at %s: %s: decoding the response: %w", c.socket(), req.URL.Path, err)
	}
	return nil
}

// Deploy implements api.Service.
//
// The daemon does not read local paths for callers, so a Source that is a
// local path (not s3://) is read here, with the rights of this process,
// and streamed (ingest.StreamLocal: a file as it is, a directory as a tar
// made on the fly). A request with Stream set is streamed as it is. See
// api.DeployRequest for the wire format.
func (c *Client) Deploy(ctx context.Context, req api.DeployRequest) (*api.DeployResult, error) {
	var res api.DeployResult
	if req.Stream == nil && req.Source != "" && ingest.IsLocal(req.Source) {
		ls, err := ingest.StreamLocal(ctx, req.Source, ingest.Options{SHA256: req.SHA256})
		if err != nil {
			return nil, err
		}
		defer ls.Close()
		req.Stream, req.SHA256, req.StreamFrom = ls, ls.SHA256, ls.From
	}
	if req.Stream != nil {
		return ok(&res, c.postStream(ctx, "/v0/deploy", req, &res))
	}
	return ok(&res, c.post(ctx, "/v0/deploy", req, &res))
}

// EncodeRequest encodes req for RequestHeader: its JSON document with
// every byte outside printable ASCII escaped (\uXXXX), so that it is a
// valid header value.
func EncodeRequest(req api.DeployRequest) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, r := range string(b) {
		switch {
		case r >= 0x20 && r < 0x7f:
			sb.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&sb, "\\u%04x\\u%04x", r1, r2)
		default:
			fmt.Fprintf(&sb, "\\u%04x", r)
		}
	}
	if sb.Len() > MaxRequestHeader {
		return "", fmt.Errorf("deploy request of %d bytes (over %d)", sb.Len(), MaxRequestHeader)
	}
	return sb.String(), nil
}

// DecodeRequest decodes the value of RequestHeader (unknown fields are an
// error). The result has no Stream.
func DecodeRequest(h string) (api.DeployRequest, error) {
	var req api.DeployRequest
	if len(h) > MaxRequestHeader {
		return req, fmt.Errorf("header %s of %d bytes (over %d)", RequestHeader, len(h), MaxRequestHeader)
	}
	if h == "" {
		return req, fmt.Errorf("a streamed deploy needs the request in header %s", RequestHeader)
	}
	dec := json.NewDecoder(strings.NewReader(h))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return api.DeployRequest{}, fmt.Errorf("header %s: %w", RequestHeader, err)
	}
	if dec.More() {
		return api.DeployRequest{}, fmt.Errorf("header %s: data after the JSON document", RequestHeader)
	}
	return req, nil
}

// bodyReader remembers the first error of the artifact's reader, which is
// the caller's own (a file it cannot read), not the connection's.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (c *Client) postStream(ctx context.Context, path string, in api.DeployRequest, out any) error {
	h, err := EncodeRequest(in)
	if err != nil {
		return err
	}
	body := &bodyReader{r: in.Stream}
	// NoBody-like wrapper: the transport must not close the caller's reader.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+Host+path, io.NopCloser(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", StreamType)
	req.Header.Set(RequestHeader, h)
	req.Header.Set("Expect", "100-continue")
	err = c.do(req, out)
	if body.err != nil {
		return body.err
	}
	return err
}

// Activate implements api.Service.
func (c *Client) Activate(ctx context.Context, req api.ActivateRequest) (*api.ActivateResult, error) {
	var res api.ActivateResult
	return ok(&res, c.post(ctx, "/v0/activate", req, &res))
}

// Rollback implements api.Service.
func (c *Client) Rollback(ctx context.Context, req api.ActivateRequest) (*api.ActivateResult, error) {
	var res api.ActivateResult
	return ok(&res, c.post(ctx, "/v0/rollback", req, &res))
}

// List implements api.Service.
func (c *Client) List(ctx context.Context, t api.Target) (*api.ListResult, error) {
	var res api.ListResult
	return ok(&res, c.get(ctx, "/v0/list", query(t), &res))
}

// Status implements api.Service.
func (c *Client) Status(ctx context.Context, t api.Target) (*api.StatusResult, error) {
	var res api.StatusResult
	return ok(&res, c.get(ctx, "/v0/status", query(t), &res))
}

// History implements api.Service.
func (c *Client) History(ctx context.Context, t api.Target, limit int) (*api.HistoryResult, error) {
	q := query(t)
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var res api.HistoryResult
	return ok(&res, c.get(ctx, "/v0/history", q, &res))
}

// Manifest implements api.Service.
func (c *Client) Manifest(ctx context.Context, t api.Target, id string) (*api.ManifestResult, error) {
	q := query(t)
	q.Set("id", id)
	var res api.ManifestResult
	return ok(&res, c.get(ctx, "/v0/manifest", q, &res))
}

// Diff implements api.Service.
func (c *Client) Diff(ctx context.Context, t api.Target, a, b string) (*api.DiffResult, error) {
	q := query(t)
	q.Set("a", a)
	q.Set("b", b)
	var res api.DiffResult
	return ok(&res, c.get(ctx, "/v0/diff", q, &res))
}

// Prune implements api.Service.
func (c *Client) Prune(ctx context.Context, req api.PruneRequest) (*api.PruneResult, error) {
	var res api.PruneResult
	return ok(&res, c.post(ctx, "/v0/prune", req, &res))
}

// Pin implements api.Service.
func (c *Client) Pin(ctx context.Context, req api.PinRequest) (*api.PinResult, error) {
	var res api.PinResult
	return ok(&res, c.post(ctx, "/v0/pin", req, &res))
}

// Canary implements api.Service.
func (c *Client) Canary(ctx context.Context, req api.CanaryRequest) (*api.CanaryResult, error) {
	var res api.CanaryResult
	return ok(&res, c.post(ctx, "/v0/canary", req, &res))
}

// Validate implements api.Service.
func (c *Client) Validate(ctx context.Context, req api.ValidateRequest) (*api.ValidateResult, error) {
	var res api.ValidateResult
	return ok(&res, c.post(ctx, "/v0/validate", req, &res))
}

func ok[T any](res *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res, nil
}

var _ api.Service = (*Client)(nil)

package control

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sync"
	"testing"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/releases"
)

// fakeService records the requests that reach it and answers with empty
// results; a fuzz target must not touch a store.
type fakeService struct {
	mu    sync.Mutex
	calls []any // the requests, as received
}

func (f *fakeService) record(req any) {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	f.mu.Unlock()
}

func (f *fakeService) Deploy(_ context.Context, r api.DeployRequest) (*api.DeployResult, error) {
	f.record(&r)
	return &api.DeployResult{}, nil
}
func (f *fakeService) Activate(_ context.Context, r api.ActivateRequest) (*api.ActivateResult, error) {
	f.record(&r)
	return &api.ActivateResult{}, nil
}
func (f *fakeService) Rollback(_ context.Context, r api.ActivateRequest) (*api.ActivateResult, error) {
	f.record(&r)
	return &api.ActivateResult{}, nil
}
func (f *fakeService) List(context.Context, api.Target) (*api.ListResult, error) {
	return &api.ListResult{}, nil
}
func (f *fakeService) Status(context.Context, api.Target) (*api.StatusResult, error) {
	return &api.StatusResult{}, nil
}
func (f *fakeService) History(context.Context, api.Target, int) (*api.HistoryResult, error) {
	return &api.HistoryResult{}, nil
}
func (f *fakeService) Diff(context.Context, api.Target, string, string) (*api.DiffResult, error) {
	return &api.DiffResult{}, nil
}
func (f *fakeService) Manifest(context.Context, api.Target, string) (*api.ManifestResult, error) {
	return &api.ManifestResult{}, nil
}
func (f *fakeService) Prune(_ context.Context, r api.PruneRequest) (*api.PruneResult, error) {
	f.record(&r)
	return &api.PruneResult{}, nil
}
func (f *fakeService) Pin(_ context.Context, r api.PinRequest) (*api.PinResult, error) {
	f.record(&r)
	return &api.PinResult{}, nil
}
func (f *fakeService) Validate(_ context.Context, r api.ValidateRequest) (*api.ValidateResult, error) {
	f.record(&r)
	return &api.ValidateResult{}, nil
}
func (f *fakeService) Canary(_ context.Context, r api.CanaryRequest) (*api.CanaryResult, error) {
	f.record(&r)
	return &api.CanaryResult{}, nil
}

// fuzzOps are the POST endpoints, with a fresh request of the type each
// decodes, and whether a reader may make the given request.
var fuzzOps = []struct {
	path      string
	newReq    func() any
	allowRead func(any) bool
}{
	{"/v0/deploy", func() any { return new(api.DeployRequest) }, nil},
	{"/v0/activate", func() any { return new(api.ActivateRequest) }, nil},
	{"/v0/rollback", func() any { return new(api.ActivateRequest) }, nil},
	{"/v0/prune", func() any { return new(api.PruneRequest) }, func(r any) bool { return r.(*api.PruneRequest).DryRun }},
	{"/v0/pin", func() any { return new(api.PinRequest) }, nil},
	{"/v0/canary", func() any { return new(api.CanaryRequest) }, nil},
	{"/v0/validate", func() any { return new(api.ValidateRequest) }, func(r any) bool {
		_, ok := releases.ParseID(r.(*api.ValidateRequest).Path)
		return ok
	}},
}

// FuzzDecodeRequest sends arbitrary bodies to the POST endpoints, as a
// writer or as a reader, and checks the decoding of requests: it never
// panics; the answer is a JSON document with a status the API defines; a
// body that does not decode (strictly: unknown fields refused) is a usage
// error and reaches no operation; one that does reaches the operation
// unchanged, and a reader's reaches it only if a reader may make it (a
// dry-run prune, validating a release id).
func FuzzDecodeRequest(f *testing.F) {
	// Seeds are in testdata/fuzz/FuzzDecodeRequest (real-shaped requests
	// of releasectl); these cover each endpoint as a reader too.
	for i := range fuzzOps {
		f.Add(uint8(i), []byte(`{"site":"www"}`), false)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reader := Peer{UID: 65534, GID: 65534, User: "nobody"}
	if os.Getuid() == reader.UID {
		reader.UID = 65533
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte, writer bool) {
		o := fuzzOps[int(op)%len(fuzzOps)]
		svc := &fakeService{}
		srv := &Server{Service: svc, Version: "fuzz", Log: log}
		r := httptest.NewRequest(http.MethodPost, "http://"+Host+o.path, bytes.NewReader(body))
		r.Header.Set(APIHeader, APIVersion)
		peer := reader
		if writer {
			peer = Peer{UID: 0, User: "root", PID: 1}
		}
		r = r.WithContext(context.WithValue(r.Context(), peerKey{}, peer))
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)

		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%s: answer is not a JSON object: %v: %q", o.path, err, w.Body.Bytes())
		}
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Fatalf("%s: status %d: %q", o.path, w.Code, w.Body.Bytes())
		}

		want := o.newReq()
		dec := json.NewDecoder(io.LimitReader(bytes.NewReader(body), 1<<20))
		dec.DisallowUnknownFields()
		decoded := dec.Decode(want) == nil && !dec.More()
		switch {
		case !decoded:
			if w.Code != http.StatusBadRequest || len(svc.calls) != 0 {
				t.Fatalf("%s: undecodable body answered %d, %d calls: %q", o.path, w.Code, len(svc.calls), body)
			}
		case !writer && (o.allowRead == nil || !o.allowRead(want)):
			if w.Code != http.StatusForbidden || len(svc.calls) != 0 {
				t.Fatalf("%s: a reader's request answered %d, %d calls: %q", o.path, w.Code, len(svc.calls), body)
			}
		case isLocalDeploy(want):
			// A JSON deploy naming a local path: the daemon never reads
			// one for a caller (releasectl streams it).
			if w.Code != http.StatusForbidden || len(svc.calls) != 0 {
				t.Fatalf("%s: a deploy of a local path answered %d, %d calls: %q", o.path, w.Code, len(svc.calls), body)
			}
		default:
			if w.Code != http.StatusOK || len(svc.calls) != 1 {
				t.Fatalf("%s: answered %d, %d calls: %q", o.path, w.Code, len(svc.calls), body)
			}
			if !reflect.DeepEqual(svc.calls[0], want) {
				t.Fatalf("%s: the operation got %+v, the body decodes to %+v", o.path, svc.calls[0], want)
			}
		}
	})
}

// isLocalDeploy reports whether req names a local path the daemon refuses
// to read for a caller: a deploy CheckDeploy refuses (a local SOURCE
// without a stream), or the validation of a directory.
func isLocalDeploy(req any) bool {
	if v, ok := req.(*api.ValidateRequest); ok {
		_, isID := releases.ParseID(v.Path)
		return !isID // a directory: the daemon never reads one for a caller
	}
	d, ok := req.(*api.DeployRequest)
	return ok && CheckDeploy(d) != nil
}

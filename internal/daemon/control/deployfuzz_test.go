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
	"testing"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
)

// streamService is a fakeService whose Deploy reads the stream it is
// given to the end (as the pipeline does) and records what it read.
type streamService struct {
	fakeService
	read []byte
}

func (s *streamService) Deploy(ctx context.Context, r api.DeployRequest) (*api.DeployResult, error) {
	if r.Stream != nil {
		b, err := io.ReadAll(r.Stream)
		if err != nil {
			return nil, err
		}
		s.read = b
		r.Stream = nil
	}
	return s.fakeService.Deploy(ctx, r)
}

// FuzzDeployHandler drives POST /v0/deploy through the whole control
// handler with any Content-Type, Release-Agent-Request header and body,
// from a writer or a reader: FuzzDecodeRequest covers JSON bodies and
// FuzzDeployRequest DecodeDeploy alone, not the streamed path of the
// handler nor the choice between the two by media type. The answer is
// always one JSON object with 200, 400 or 403; the service is called at
// most once, only for a writer, with exactly what DecodeDeploy decodes
// and CheckDeploy allows, and a streamed body reaches it unchanged.
func FuzzDeployHandler(f *testing.F) {
	stream, _ := client.EncodeRequest(api.DeployRequest{Target: api.Target{Site: "www"}, Source: "site.tar.gz", StreamFrom: "file", Activate: true})
	f.Add(client.StreamType, stream, []byte{0x1f, 0x8b, 8, 0}, true)
	f.Add(client.StreamType+"; charset=binary", stream, []byte("PK\x03\x04"), false)
	f.Add("application/json", "", []byte(`{"site":"www","source":"s3://b/k","activate":true}`), true)
	f.Add("", "", []byte(`{"site":"www","source":"/etc","activate":true}`), true)
	f.Add("application/octet-stream;;", "%zz", []byte{}, true)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reader := Peer{UID: 65534, GID: 65534, User: "nobody"}
	if os.Getuid() == reader.UID {
		reader.UID = 65533
	}
	f.Fuzz(func(t *testing.T, ctype, hdr string, body []byte, writer bool) {
		r, err := http.NewRequest(http.MethodPost, "http://"+Host+"/v0/deploy", bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		r.Header.Set(APIHeader, APIVersion)
		r.Header["Content-Type"] = []string{ctype}
		r.Header[client.RequestHeader] = []string{hdr}
		// What the handler should see, decoded from a copy.
		r2 := r.Clone(context.Background())
		r2.Body = io.NopCloser(bytes.NewReader(body))
		want, decErr := DecodeDeploy(r2)
		streamed := decErr == nil && want.Stream != nil
		if decErr == nil {
			want.Stream = nil
		}

		peer := reader
		if writer {
			peer = Peer{UID: 0, User: "root", PID: 1}
		}
		r = r.WithContext(context.WithValue(r.Context(), peerKey{}, peer))
		svc := &streamService{}
		srv := &Server{Service: svc, Version: "fuzz", Log: log}
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)

		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("answer is not a JSON object: %v: %q", err, w.Body.Bytes())
		}
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Fatalf("status %d: %q", w.Code, w.Body.Bytes())
		}
		if len(svc.calls) > 1 {
			t.Fatalf("%d calls", len(svc.calls))
		}
		called := len(svc.calls) == 1
		switch {
		case decErr != nil:
			if called || w.Code != http.StatusBadRequest {
				t.Fatalf("undecodable request (%v) answered %d, called %v", decErr, w.Code, called)
			}
		case !writer || CheckDeploy(withStream(want, streamed)) != nil:
			if called || w.Code != http.StatusForbidden {
				t.Fatalf("refused request answered %d, called %v", w.Code, called)
			}
		default:
			if !called || w.Code != http.StatusOK {
				t.Fatalf("allowed request answered %d, called %v: %q", w.Code, called, w.Body.Bytes())
			}
			if got := svc.calls[0].(*api.DeployRequest); !reflect.DeepEqual(got, want) {
				t.Fatalf("the service got %+v, DecodeDeploy gives %+v", got, want)
			}
			if streamed && !bytes.Equal(svc.read, body) {
				t.Fatalf("the stream read %d bytes, the body has %d", len(svc.read), len(body))
			}
		}
	})
}

// withStream returns req with a non-nil Stream when streamed (CheckDeploy
// looks only at whether there is one).
func withStream(req *api.DeployRequest, streamed bool) *api.DeployRequest {
	r := *req
	if streamed {
		r.Stream = bytes.NewReader(nil)
	}
	return &r
}

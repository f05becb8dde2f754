package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

func TestErrorOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
		exit int
	}{
		{api.Usagef("bad %s", "flag"), "usage", api.ExitUsage},
		{fmt.Errorf("deploy: %w", api.ErrRejected), "rejected", api.ExitRejected},
		{fmt.Errorf("x: %w", api.ErrNotFound), "not_found", api.ExitFailed},
		{fmt.Errorf("x: %w", releases.ErrNoRelease), "not_found", api.ExitFailed},
		{&releases.LockedError{Root: "/r"}, "locked", api.ExitFailed},
		{fmt.Errorf("x: %w", api.ErrDenied), "denied", api.ExitFailed},
		{errors.New("disk on fire"), "failed", api.ExitFailed},
		{&api.Error{Schema: 1, Code: "rejected", Exit: api.ExitRejected, Message: "m"}, "rejected", api.ExitRejected},
	} {
		e := api.ErrorOf(tc.err)
		if e.Code != tc.code || e.Exit != tc.exit || e.Message != tc.err.Error() || e.Schema != api.Schema {
			t.Errorf("ErrorOf(%v) = %+v, want code %q exit %d", tc.err, e, tc.code, tc.exit)
		}
	}
}

// TestErrorRoundTrip: an *Error that crossed the control socket as JSON
// still matches its sentinel with errors.Is, and keeps its typed report.
func TestErrorRoundTrip(t *testing.T) {
	rep := &validate.Report{Schema: 1, Reject: true}
	for _, sentinel := range []error{api.ErrUsage, api.ErrRejected, api.ErrNotFound, api.ErrLocked, api.ErrDenied} {
		e := api.ErrorOf(fmt.Errorf("wrapped: %w", sentinel))
		e.Report = rep
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back api.Error
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(&back, sentinel) || back.Exit != e.Exit || back.Code != e.Code {
			t.Errorf("%v: after JSON %+v does not match", sentinel, back)
		}
		if back.Report == nil || !back.Report.Rejected() {
			t.Errorf("%v: report lost: %s", sentinel, b)
		}
		if again := api.ErrorOf(&back); again != &back {
			t.Errorf("ErrorOf of an *Error made a new one")
		}
	}
	if (&api.Error{Code: "failed"}).Unwrap() != nil {
		t.Error("failed unwraps to a sentinel")
	}
}

// TestDocumentsHaveSchema: every document releasectl --json prints
// carries "schema".
func TestDocumentsHaveSchema(t *testing.T) {
	for _, doc := range []any{
		&api.ListResult{Schema: api.Schema}, &api.StatusResult{Schema: api.Schema},
		&api.DeployResult{Schema: api.Schema}, &api.ActivateResult{Schema: api.Schema},
		&api.HistoryResult{Schema: api.Schema}, &api.DiffResult{Schema: api.Schema},
		&api.ManifestResult{Schema: api.Schema}, &api.PruneResult{Schema: api.Schema},
		&api.PinResult{Schema: api.Schema}, &api.ValidateResult{Schema: api.Schema},
		api.ErrorOf(errors.New("x")),
	} {
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), `{"schema":1,`) {
			t.Errorf("%T: %s", doc, b)
		}
	}
	// A typed report decodes typed.
	var v api.ValidateResult
	if err := json.Unmarshal([]byte(`{"schema":1,"rejected":true,"report":{"schema":1}}`), &v); err != nil || v.Report == nil || v.Report.Schema != 1 {
		t.Errorf("ValidateResult.Report: %+v %v", v.Report, err)
	}
}

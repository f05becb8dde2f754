package client

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/example/release-agent/api"
)

func TestDialErrors(t *testing.T) {
	for _, tc := range []struct {
		err      error
		sentinel error
		msg      string
	}{
		{syscall.ENOENT, ErrNoDaemon, "doesn't appear to be running (sudo systemctl start release-agent ?)"},
		{syscall.ECONNREFUSED, ErrNoDaemon, "doesn't appear to be running"},
		{syscall.EACCES, api.ErrDenied, "permission denied connecting to release-agent at /s (are you in group release-agent?)"},
	} {
		c := &Client{Socket: "/s", Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "unix", Err: tc.err}
		}}
		_, err := c.Status(context.Background(), api.Target{})
		if !errors.Is(err, tc.sentinel) || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("dial error %v: got %v", tc.err, err)
		}
		if tc.sentinel == api.ErrDenied && errors.Is(err, ErrNoDaemon) {
			t.Errorf("EACCES must not look like a missing daemon (releasectl would bypass it)")
		}
	}
}

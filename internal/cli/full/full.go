// Package full is how the deploy machinery plugs into the full CLI
// (package cli) without package cli importing it.
//
// Package config registers a Backend in its init: the daemon's control
// client, the services that deploy (extraction, hashing, validation) and
// the validation report printer. `release-agent ctl` links config and runs
// every verb; releasectl links neither cli nor config: it runs rollback
// and activate on a --root store itself and hands every other command
// line to `release-agent ctl` (package cli/switchcmd).
//
// The package depends on api and the standard library only.
package full

import (
	"context"
	"io"
	"sync"

	"github.com/example/release-agent/api"
)

// Progress is one progress report of a deploy, for the terminal line
// releasectl draws.
type Progress struct {
	Stage string
	Files int
	Bytes int64
}

// Backend is the deploy machinery, as releasectl's verbs need it.
type Backend struct {
	// Daemon returns the client of release-agent listening on socket. When
	// nobody listens there, the error wraps api.ErrNoDaemon and says how
	// to start it.
	Daemon func(ctx context.Context, socket string) (api.Service, error)
	// Open returns the service that works on stores in this process: on
	// the release root each Target names when config is "", else on the
	// sites of the configuration file config as well. progress, if not
	// nil, receives deploy progress.
	Open func(config string, progress func(Progress)) (api.Service, error)
	// PrintReport prints a validation report that crossed the control
	// socket (decoded JSON) for people, and reports whether rep was one.
	PrintReport func(w io.Writer, rep any) bool
}

var (
	mu      sync.Mutex
	backend *Backend
)

// Register makes b the deploy machinery of this program. The last call
// wins.
func Register(b Backend) {
	mu.Lock()
	defer mu.Unlock()
	backend = &b
}

// Get returns the registered Backend, or nil if this program has none.
func Get() *Backend {
	mu.Lock()
	defer mu.Unlock()
	return backend
}

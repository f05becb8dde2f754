// Package full is how the deploy machinery plugs into releasectl's verbs
// without releasectl linking it.
//
// releasectl (cmd/releasectl) links package cli with the store only, so
// that a rollback starts in a few milliseconds. The verbs that need
// extraction, hashing or validation (deploy, stage, validate), and every
// command without --root (the daemon's control client links net/http,
// about 4 ms of start-up; without a daemon, --site needs the configuration
// parser), run in a program that registers a Backend here:
// package config does it in its init, so `release-agent ctl` (which links
// config through the daemon) runs every verb in-process, while releasectl
// finds no Backend and hands those verbs to `release-agent ctl` with the
// same arguments (see cli.S3Helper).
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
	// NeedsHelper reports whether a deploy from source still needs
	// another program (an s3:// source without the S3 client linked).
	NeedsHelper func(source string) bool
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

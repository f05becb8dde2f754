package notify

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/example/release-agent/internal/config"
)

// ErrToken is wrapped by the error of a token file that cannot be used.
var ErrToken = errors.New("bearer token file")

// FromConfig returns the endpoints of c's [[notify]] entries, named
// "notify[N]", with each token file read (whitespace around the token
// trimmed). A token file that cannot be read or is empty is an error
// naming the configuration file, the key and the token file: the daemon
// refuses to start (or to reload) with it.
func FromConfig(c *config.Config) ([]Endpoint, error) {
	var eps []Endpoint
	var errs []error
	for i, n := range c.Notify {
		ep := Endpoint{Name: fmt.Sprintf("notify[%d]", i), URL: n.URL, Events: n.Events}
		if n.TokenFile != "" {
			b, err := os.ReadFile(n.TokenFile)
			tok := strings.TrimSpace(string(b))
			switch {
			case err != nil:
				errs = append(errs, &config.Error{File: c.Path, Key: ep.Name + ".token_file", Err: fmt.Errorf("%w: %w", ErrToken, err)})
				continue
			case tok == "":
				errs = append(errs, &config.Error{File: c.Path, Key: ep.Name + ".token_file", Err: fmt.Errorf("%w: %s is empty", ErrToken, n.TokenFile)})
				continue
			}
			ep.Token = tok
		}
		eps = append(eps, ep)
	}
	return eps, errors.Join(errs...)
}

package cli

import (
	"errors"
	"strings"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/releases"
)

// provenanceFlags adds --commit, --message and --meta to deploy and stage.
func provenanceFlags(fs *pflag.FlagSet, o *verbOpts) {
	fs.StringVar(&o.commit, "commit", "", "the `SHA` the artifact was built from (4 to 64 hex digits), recorded with the release")
	fs.StringVarP(&o.message, "message", "m", "", "a `TEXT` recorded with the release (a commit subject, a reason)")
	fs.StringArrayVar(&o.meta, "meta", nil, "a label `KEY=VALUE` recorded with the release (repeatable; KEY of a-z, 0-9, _ and -)")
}

// provenance returns the provenance of --commit, --message and --meta
// (nil when none is given), or a usage error naming the flag.
func (o *verbOpts) provenance() (*releases.Provenance, error) {
	p := &releases.Provenance{Commit: o.commit, Message: o.message}
	flagErr := func(flag string, err error) error {
		var pe *releases.ProvenanceError
		if errors.As(err, &pe) {
			return api.Usagef("%s %q: %s", flag, pe.Value, pe.Why)
		}
		return api.Usagef("%s: %v", flag, err)
	}
	if o.commit != "" {
		if err := releases.CheckCommit(o.commit); err != nil {
			return nil, flagErr("--commit", err)
		}
	}
	if err := releases.CheckMessage(o.message); err != nil {
		return nil, flagErr("--message", err)
	}
	for _, kv := range o.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, api.Usagef("--meta %q: want KEY=VALUE", kv)
		}
		if err := releases.CheckMeta(k, v); err != nil {
			return nil, flagErr("--meta", err)
		}
		if _, dup := p.Meta[k]; dup {
			return nil, api.Usagef("--meta %s given twice", k)
		}
		if p.Meta == nil {
			p.Meta = map[string]string{}
		}
		p.Meta[k] = v
	}
	if len(p.Meta) > releases.MaxMeta {
		return nil, api.Usagef("--meta given %d times: at most %d labels", len(p.Meta), releases.MaxMeta)
	}
	return p.Normal(), nil
}

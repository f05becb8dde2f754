// Package sshcmd decides what a restricted SSH key may run. It is the
// logic of `releasectl ssh-command --site NAME`, the forced command of a
// line in authorized_keys:
//
//	restrict,command="releasectl ssh-command --site www" ssh-ed25519 AAAA... ci@build
//
// sshd runs the forced command whatever the client asked for and puts the
// client's command line in SSH_ORIGINAL_COMMAND. Parse turns that string
// into releasectl arguments without a shell: it splits on white space,
// refuses every shell metacharacter and quote (so nothing can be smuggled
// past the split), refuses options that pick another site or daemon, and
// accepts only the allowed verbs. The caller runs releasectl's own verb
// code in-process with the result (plus --site from the forced command);
// nothing is ever executed through a shell.
//
// With `ssh-command --allow-stdin` (off by default) a key may also run
// "deploy -" and "stage -": an archive its client sends on standard input,
// and no other SOURCE (WithStdinVerbs, CheckStdinOnly).
package sshcmd

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/example/release-agent/api"
)

// DefaultAllowed are the verbs a restricted key may run unless the forced
// command names others with --allow: the read verbs and rollback.
var DefaultAllowed = []string{"status", "list", "history", "diff", "rollback"}

// Errors Parse returns (wrapped, with api.ErrUsage so that releasectl
// exits 2).
var (
	ErrEmpty      = errors.New("no command given")
	ErrUnsafe     = errors.New("shell metacharacters are not accepted")
	ErrNotAllowed = errors.New("verb not allowed for this key")
	ErrBoundFlag  = errors.New("option not allowed for this key")
)

// Metacharacters refused anywhere in the command: everything a shell would
// interpret (quotes, escapes, expansions, redirections, separators, globs,
// comments).
const Metacharacters = "`~!#$&*()|\\{}[];'\"<>?"

// boundFlags select another site, store, configuration or daemon: the key
// is bound to the site of its forced command.
var boundFlags = []string{"--site", "--root", "--config", "--socket"}

// Parse splits original (SSH_ORIGINAL_COMMAND) into releasectl arguments
// and checks them: an optional leading "releasectl" (or a path ending in
// /releasectl) is dropped, global options may precede the verb (only
// --json and --wait=DURATION style options; see boundFlags for the ones
// refused), and the verb must be in allowed (DefaultAllowed if nil).
// The returned slice starts with the global options, then the verb and its
// arguments.
func Parse(original string, allowed []string) ([]string, error) {
	if allowed == nil {
		allowed = DefaultAllowed
	}
	for _, r := range original {
		switch {
		case strings.ContainsRune(Metacharacters, r):
			return nil, fmt.Errorf("%w: %w: %q in %q", api.ErrUsage, ErrUnsafe, r, original)
		case r == ' ' || r == '\t':
		case unicode.IsControl(r) || !unicode.IsPrint(r):
			return nil, fmt.Errorf("%w: %w: control character %q in the command", api.ErrUsage, ErrUnsafe, r)
		}
	}
	args := strings.Fields(original)
	if len(args) > 0 && (args[0] == "releasectl" || strings.HasSuffix(args[0], "/releasectl")) {
		args = args[1:]
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: %w; this key runs: releasectl %s [ARGS]", api.ErrUsage, ErrEmpty, strings.Join(allowed, "|"))
	}
	verb := ""
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if slices.Contains(boundFlags, name) {
			return nil, fmt.Errorf("%w: %w: %s (the key is bound to its site)", api.ErrUsage, ErrBoundFlag, name)
		}
		if verb == "" && !strings.HasPrefix(a, "-") {
			verb = a
		}
	}
	switch {
	case verb == "":
		return nil, fmt.Errorf("%w: %w; this key runs: releasectl %s [ARGS]", api.ErrUsage, ErrEmpty, strings.Join(allowed, "|"))
	case verb == "ssh-command" || !slices.Contains(allowed, verb):
		return nil, fmt.Errorf("%w: %w: %q (this key runs: %s)", api.ErrUsage, ErrNotAllowed, verb, strings.Join(allowed, ", "))
	}
	return args, nil
}

// StdinVerbs are the verbs `ssh-command --allow-stdin` allows with an
// archive on standard input as their only SOURCE ("deploy -", "stage -").
var StdinVerbs = []string{"deploy", "stage"}

// WithStdinVerbs returns allowed plus StdinVerbs, for Parse: whether a
// stdin verb's SOURCE is "-" is CheckStdinOnly's job, once the arguments
// are parsed.
func WithStdinVerbs(allowed []string) []string {
	out := slices.Clone(allowed)
	for _, v := range StdinVerbs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// CheckStdinOnly refuses a stdin verb that allowed does not list (it is
// only there by --allow-stdin) unless its positional arguments are
// exactly "-": such a key deploys what its client sends, never a path on
// the host or an s3:// source. pos are the verb's positional arguments as
// releasectl's own flag parser finds them.
func CheckStdinOnly(allowed []string, verb string, pos []string) error {
	if !slices.Contains(StdinVerbs, verb) || slices.Contains(allowed, verb) {
		return nil
	}
	if len(pos) == 1 && pos[0] == "-" {
		return nil
	}
	return fmt.Errorf("%w: %w: %s %s (this key runs only '%s -' with an archive on standard input)",
		api.ErrUsage, ErrNotAllowed, verb, strings.Join(pos, " "), verb)
}

// ParseAllow parses the value of `ssh-command --allow` ("deploy,activate"
// or "+deploy"): a list replacing DefaultAllowed, or with a leading "+"
// added to it.
func ParseAllow(v string) ([]string, error) {
	add := strings.HasPrefix(v, "+")
	v = strings.TrimPrefix(v, "+")
	var out []string
	if add {
		out = slices.Clone(DefaultAllowed)
	}
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if s == "ssh-command" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, Metacharacters+" ") {
			return nil, fmt.Errorf("%w: --allow: %q is not a verb", api.ErrUsage, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: --allow: no verbs in %q", api.ErrUsage, v)
	}
	return out, nil
}

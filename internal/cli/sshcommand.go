package cli

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/cli/sshcmd"
)

// ssh-command is the forced command of a restricted key in
// authorized_keys. It runs the releasectl verb named in
// SSH_ORIGINAL_COMMAND, in-process and without a shell, if the key allows
// it, bound to the site (or root) of the forced command.
var sshCommandVerb = verb{
	name: "ssh-command", args: "(--site NAME | --root DIR) [--allow VERBS] [--allow-stdin]",
	short: "forced command for a restricted SSH key: run the verb in SSH_ORIGINAL_COMMAND if allowed",
	long: `Put it in ~/.ssh/authorized_keys of the deploying account:

  restrict,command="releasectl ssh-command --site www" ssh-ed25519 AAAA... ci@build

then 'ssh web1 rollback' (or 'ssh web1 releasectl status --json') runs that
verb for site www. No shell is involved; shell metacharacters, and flags that
pick another site, root, config or socket, are refused. Allowed by default:
status, list, history, diff, rollback. --allow deploy,activate replaces the
list; --allow +deploy adds to it (deploy of any SOURCE the account can read:
a path on the host, s3://...).

--allow-stdin (off by default) lets the key also run 'deploy -' and
'stage -' with an archive on standard input, and no other SOURCE:

  restrict,command="releasectl ssh-command --site www --allow-stdin" ssh-ed25519 AAAA... ci@build
  tar -C public -cz . | ssh web1 releasectl deploy - --commit $SHA

The archive is checked like any other (format by its first bytes, limits,
validation). Arguments cannot be quoted through a restricted key: give
--message=one-word or labels with --meta KEY=VALUE.`,
	flags: func(fs *pflag.FlagSet, o *verbOpts) {
		fs.StringVar(&o.allow, "allow", "", "comma-separated `VERBS` this key may run (+VERBS adds to the default)")
		fs.BoolVar(&o.allowStdin, "allow-stdin", false, "also allow 'deploy -' and 'stage -' (an archive on standard input; no other SOURCE)")
	},
	maxArgs:   0,
	noConnect: true,
}

func init() {
	sshCommandVerb.run = runSSHCommand
	verbs = append(verbs, sshCommandVerb)
}

func runSSHCommand(ctx context.Context, c *cmd, _ []string) (any, error) {
	if c.g.site == "" && c.g.root == "" {
		return nil, api.Usagef("ssh-command needs --site NAME or --root DIR in the forced command")
	}
	allowed := sshcmd.DefaultAllowed
	if c.o.allow != "" {
		var err error
		if allowed, err = sshcmd.ParseAllow(c.o.allow); err != nil {
			return nil, err
		}
	}
	orig := c.env.Getenv("SSH_ORIGINAL_COMMAND")
	if orig == "" {
		return nil, api.Usagef("no SSH_ORIGINAL_COMMAND: this verb is the forced command of a restricted SSH key (see releasectl ssh-command --help)")
	}
	parseAllowed := allowed
	if c.o.allowStdin {
		parseAllowed = sshcmd.WithStdinVerbs(allowed)
	}
	args, err := sshcmd.Parse(orig, parseAllowed)
	if err != nil {
		return nil, err
	}
	if c.o.allowStdin {
		name, pos, o, err := verbArgs(args)
		if err != nil {
			return nil, err
		}
		if err := sshcmd.CheckStdinOnly(allowed, name, pos); err != nil {
			return nil, err
		}
		// A key allowed only an archive on stdin deploys what validation
		// lets through: it may not switch validation off.
		if slices.Contains(sshcmd.StdinVerbs, name) && !slices.Contains(allowed, name) && o.noVerify {
			return nil, fmt.Errorf("%w: %w: %s --no-validate (a key with --allow-stdin deploys validated releases only)", api.ErrUsage, sshcmd.ErrNotAllowed, name)
		}
	}
	bound := []string{"--socket", c.g.socket, "--config", c.g.config}
	if c.g.site != "" {
		bound = append(bound, "--site", c.g.site)
	} else {
		bound = append(bound, "--root", c.g.root)
	}
	code := Run(ctx, append(bound, args...), c.env)
	if code != 0 {
		return nil, &exitError{code}
	}
	return nil, nil
}

// verbArgs returns the verb of args and its positional arguments, as Run
// would parse them.
func verbArgs(args []string) (string, []string, *verbOpts, error) {
	name, rest := splitVerb(args)
	v := findVerb(name)
	if v == nil {
		return name, nil, nil, api.Usagef("unknown verb %q", name)
	}
	fs := pflag.NewFlagSet("releasectl", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var g globals
	var o verbOpts
	g.addFlags(fs)
	if v.flags != nil {
		v.flags(fs, &o)
	}
	if err := fs.Parse(rest); err != nil {
		return name, nil, nil, api.Usagef("%v (see releasectl %s --help)", err, name)
	}
	return name, fs.Args(), &o, nil
}

// exitError carries the exit status of a nested run whose error was
// already printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

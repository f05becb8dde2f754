package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/cli/sshcmd"
)

// ssh-command is the forced command of a restricted key in
// authorized_keys. It runs the releasectl verb named in
// SSH_ORIGINAL_COMMAND, in-process and without a shell, if the key allows
// it, bound to the site (or root) of the forced command.
var sshCommandVerb = verb{
	name: "ssh-command", args: "(--site NAME | --root DIR) [--allow VERBS]",
	short: "forced command for a restricted SSH key: run the verb in SSH_ORIGINAL_COMMAND if allowed",
	long: `Put it in ~/.ssh/authorized_keys of the deploying account:

  restrict,command="releasectl ssh-command --site www" ssh-ed25519 AAAA... ci@build

then 'ssh web1 rollback' (or 'ssh web1 releasectl status --json') runs that
verb for site www. No shell is involved; shell metacharacters, and flags that
pick another site, root, config or socket, are refused. Allowed by default:
status, list, history, diff, rollback. --allow deploy,activate replaces the
list; --allow +deploy adds to it.`,
	flags: func(fs *pflag.FlagSet, o *verbOpts) {
		fs.StringVar(&o.allow, "allow", "", "comma-separated `VERBS` this key may run (+VERBS adds to the default)")
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
	args, err := sshcmd.Parse(orig, allowed)
	if err != nil {
		return nil, err
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

// exitError carries the exit status of a nested run whose error was
// already printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

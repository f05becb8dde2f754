package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

const helpHead = `releasectl: publish static sites atomically, roll back in milliseconds.

Usage:
  releasectl [--root DIR | --site NAME] [--config FILE] [--socket PATH] [--json] VERB ...

Global flags may come before or after the verb.
`

const helpTail = `
Where releasectl works:
  --root DIR    works on that release root directly, under its lock (a running
                release-agent takes the same lock, so the two never collide).
  --site NAME   asks release-agent over its control socket; when the daemon is
                not running, releasectl reads --config and works directly.

Exit status:
  0  done
  1  failed; nothing changed (the live release is still live)
  2  usage error (bad verb, flag or argument)
  3  rejected by validation; nothing changed, report printed

With --json, stdout carries one JSON document with a "schema" version, and an
error is a JSON object {"schema","code","message","exit"} on stderr. Help with
--json is the document {"schema":1,"help":"TEXT"}.

Examples:
  releasectl --root /srv/www deploy site.tar.gz
  releasectl --root /srv/www list
  ssh web1 releasectl --site www rollback
  releasectl --site www rollback --to v41 --json

Run releasectl VERB --help for a verb's flags.
`

func printHelp(w io.Writer) {
	fmt.Fprint(w, helpHead)
	fmt.Fprintln(w, "\nVerbs:")
	for _, v := range verbs {
		fmt.Fprintf(w, "  %-22s %s\n", strings.TrimSpace(v.name+" "+v.args), v.short)
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	fs := pflag.NewFlagSet("g", pflag.ContinueOnError)
	var g globals
	g.addFlags(fs)
	fmt.Fprint(w, fs.FlagUsages())
	fmt.Fprint(w, helpTail)
}

func printVerbHelp(w io.Writer, v *verb) {
	fmt.Fprintf(w, "Usage: releasectl [global flags] %s %s\n\n%s.\n", v.name, v.args, v.short)
	if v.long != "" {
		fmt.Fprintf(w, "\n%s\n", v.long)
	}
	if v.flags != nil {
		fs := pflag.NewFlagSet(v.name, pflag.ContinueOnError)
		var o verbOpts
		v.flags(fs, &o)
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
	fmt.Fprintln(w, "\nGlobal flags: --root DIR, --site NAME, --config FILE, --socket PATH, --json, --wait DURATION (see releasectl --help).")
	fmt.Fprintln(w, "Exit status: 0 done, 1 failed (nothing changed), 2 usage error, 3 rejected by validation.")
}

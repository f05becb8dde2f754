package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
)

// Shell completion scripts, made from the verb table, so that a new verb
// or flag completes without anyone editing a script. Release ids (vN)
// are completed by running `releasectl list --json` with the --root,
// --site, --config and --socket already typed.

// The completion verb is added in init: its output is made from the verb
// table, which a table entry cannot refer to.
func init() {
	verbs = append(verbs, verb{
		name: "completion", args: "bash|zsh|fish", short: "print a shell completion script",
		long: `bash: source <(releasectl completion bash), or save it as
/usr/share/bash-completion/completions/releasectl (the .deb installs it).
zsh:  eval "$(releasectl completion zsh)" in ~/.zshrc.
fish: releasectl completion fish > ~/.config/fish/completions/releasectl.fish
Verbs, flags, files and release ids (from releasectl list) complete.`,
		minArgs: 1, maxArgs: 1, noConnect: true,
		run: func(ctx context.Context, c *cmd, a []string) (any, error) {
			if c.g.json {
				return nil, api.Usagef("completion prints a shell script; --json does not apply")
			}
			return nil, writeCompletion(c.env.Stdout, a[0])
		},
	})
}

// verbFlags returns a verb's flag set (its own flags only).
func verbFlags(v *verb) *pflag.FlagSet {
	fs := pflag.NewFlagSet(v.name, pflag.ContinueOnError)
	if v.flags != nil {
		var o verbOpts
		v.flags(fs, &o)
	}
	return fs
}

func globalFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("releasectl", pflag.ContinueOnError)
	var g globals
	g.addFlags(fs)
	return fs
}

// flagWords lists a flag set's flags as they are typed ("--root", "-n").
func flagWords(fs *pflag.FlagSet) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		out = append(out, "--"+f.Name)
		if f.Shorthand != "" {
			out = append(out, "-"+f.Shorthand)
		}
	})
	return out
}

// argKind says what a verb's positional arguments are: "file" (a SOURCE
// or DIR), "id" (vN), "file id" (DIR|vN), or a fixed word list.
func argKind(v *verb) string {
	switch {
	case v.name == "completion":
		return "words:bash zsh fish"
	case strings.Contains(v.args, "SOURCE") || strings.Contains(v.args, "DIR"):
		if strings.Contains(v.args, "vN") {
			return "file id"
		}
		return "file"
	case strings.Contains(v.args, "vN") || strings.Contains(v.args, "vA"):
		return "id"
	}
	return ""
}

// fileFlags take a path; idFlags a release id.
var (
	dirFlags  = map[string]bool{"root": true}
	fileFlags = map[string]bool{"config": true, "socket": true, "baseline": true}
	idFlags   = map[string]bool{"to": true}
)

func writeCompletion(w io.Writer, shell string) error {
	switch shell {
	case "bash":
		writeBash(w)
	case "zsh":
		// zsh runs the bash function through bashcompinit: one script,
		// the same behaviour in both shells.
		fmt.Fprint(w, "#compdef releasectl\n# releasectl completion for zsh: eval \"$(releasectl completion zsh)\", or save it as _releasectl in $fpath.\nautoload -U +X bashcompinit && bashcompinit\n")
		writeBash(w)
	case "fish":
		writeFish(w)
	default:
		return api.Usagef("completion %q: want bash, zsh or fish", shell)
	}
	return nil
}

func writeBash(w io.Writer) {
	g := globalFlags()
	valued := []string{}
	for f := range valuedFlags() {
		valued = append(valued, f)
	}
	slices.Sort(valued)
	var names []string
	for _, v := range verbs {
		names = append(names, v.name)
	}
	fmt.Fprintf(w, `# releasectl completion for bash: source it, or install it as
# /usr/share/bash-completion/completions/releasectl.
_releasectl_ids() {
	local -a a=()
	local i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		--root|--site|--config|--socket) a+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}"); ((i++)) ;;
		--root=*|--site=*|--config=*|--socket=*) a+=("${COMP_WORDS[i]}") ;;
		esac
	done
	"${COMP_WORDS[0]}" "${a[@]}" --json list 2>/dev/null | sed -n 's/^ *"id": *"\(v[0-9]*\)".*/\1/p'
}
_releasectl() {
	local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
	local verb="" i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		%s) ((i++)) ;;
		-*) ;;
		*) verb="${COMP_WORDS[i]}"; break ;;
		esac
	done
	case "$prev" in
	%s) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	%s) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	%s) COMPREPLY=($(compgen -W "$(_releasectl_ids)" -- "$cur")); return ;;
	%s) COMPREPLY=(); return ;;
	esac
	local globals=%q
	if [[ -z "$verb" ]]; then
		if [[ "$cur" == -* ]]; then
			COMPREPLY=($(compgen -W "$globals" -- "$cur"))
		else
			COMPREPLY=($(compgen -W %q -- "$cur"))
		fi
		return
	fi
	local flags="" args=""
	case "$verb" in
`, strings.Join(valued, "|"), flagAlts(dirFlags), flagAlts(fileFlags), flagAlts(idFlags), otherValued(valued),
		strings.Join(flagWords(g), " "), strings.Join(names, " "))
	for i := range verbs {
		v := &verbs[i]
		fmt.Fprintf(w, "\t%s) flags=%q; args=%q ;;\n", v.name, strings.Join(flagWords(verbFlags(v)), " "), argKind(v))
	}
	fmt.Fprint(w, `	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$flags $globals" -- "$cur"))
		return
	fi
	COMPREPLY=()
	case "$args" in
	words:*) COMPREPLY=($(compgen -W "${args#words:}" -- "$cur")) ;;
	*)
		[[ "$args" == *id* ]] && COMPREPLY+=($(compgen -W "$(_releasectl_ids)" -- "$cur"))
		[[ "$args" == *file* ]] && COMPREPLY+=($(compgen -f -- "$cur"))
		;;
	esac
}
complete -o filenames -F _releasectl releasectl
`)
}

// flagAlts is a case pattern matching the flags of set.
func flagAlts(set map[string]bool) string {
	var out []string
	for f := range set {
		out = append(out, "--"+f)
	}
	slices.Sort(out)
	return strings.Join(out, "|")
}

// otherValued is a case pattern for the valued flags whose value has no
// completion (a number, a duration, a text).
func otherValued(valued []string) string {
	var out []string
	for _, f := range valued {
		n := strings.TrimLeft(f, "-")
		if !dirFlags[n] && !fileFlags[n] && !idFlags[n] {
			out = append(out, f)
		}
	}
	return strings.Join(out, "|")
}

func writeFish(w io.Writer) {
	fmt.Fprint(w, `# releasectl completion for fish: releasectl completion fish | source, or save it
# as ~/.config/fish/completions/releasectl.fish.
function __releasectl_ids
	set -l a
	set -l t (commandline -opc)
	for i in (seq 2 (count $t))
		switch $t[$i]
			case --root --site --config --socket
				set a $a $t[$i] $t[(math $i + 1)]
		end
	end
	releasectl $a --json list 2>/dev/null | string replace -rf '^ *"id": *"(v[0-9]+)".*' '$1'
end
complete -c releasectl -f
`)
	var names []string
	for _, v := range verbs {
		names = append(names, v.name)
	}
	fish := func(cond string, f *pflag.Flag) {
		fmt.Fprintf(w, "complete -c releasectl -n %s -l %s", fishQuote(cond), f.Name)
		if f.Shorthand != "" {
			fmt.Fprintf(w, " -s %s", f.Shorthand)
		}
		if f.NoOptDefVal == "" {
			switch {
			case dirFlags[f.Name], fileFlags[f.Name]:
				fmt.Fprint(w, " -r -F")
			case idFlags[f.Name]:
				fmt.Fprint(w, " -x -a '(__releasectl_ids)'")
			default:
				fmt.Fprint(w, " -x")
			}
		}
		_, usage := pflag.UnquoteUsage(f)
		fmt.Fprintf(w, " -d %s\n", fishQuote(firstLine(usage)))
	}
	globalFlags().VisitAll(func(f *pflag.Flag) { fish("true", f) })
	for i := range verbs {
		v := &verbs[i]
		fmt.Fprintf(w, "complete -c releasectl -n '__fish_use_subcommand' -a %s -d %s\n", v.name, fishQuote(v.short))
		cond := "__fish_seen_subcommand_from " + v.name
		verbFlags(v).VisitAll(func(f *pflag.Flag) { fish(cond, f) })
		switch k := argKind(v); {
		case strings.HasPrefix(k, "words:"):
			fmt.Fprintf(w, "complete -c releasectl -n %s -a %s\n", fishQuote(cond), fishQuote(strings.TrimPrefix(k, "words:")))
		default:
			if strings.Contains(k, "id") {
				fmt.Fprintf(w, "complete -c releasectl -n %s -a '(__releasectl_ids)'\n", fishQuote(cond))
			}
			if strings.Contains(k, "file") {
				fmt.Fprintf(w, "complete -c releasectl -n %s -F\n", fishQuote(cond))
			}
		}
	}
}

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

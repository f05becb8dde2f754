package cli

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/example/release-agent/api"
)

// suggest returns the candidate closest to typed, if one is close enough
// to be what the user meant: the one candidate typed is a prefix of, else
// the nearest within an edit distance of 1 for short words and 2 for
// longer ones. "" if none.
func suggest(typed string, candidates []string) string {
	best, bestD := "", 1<<30
	var prefixed []string
	for _, c := range candidates {
		if typed != "" && strings.HasPrefix(c, typed) {
			prefixed = append(prefixed, c)
		}
		if d := editDistance(typed, c); d < bestD {
			best, bestD = c, d
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	limit := 1
	if len(typed) > 4 {
		limit = 2
	}
	if bestD <= limit {
		return best
	}
	return ""
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment) of a and b: insertions, deletions, substitutions and
// transpositions of adjacent letters each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// unknownVerb is the usage error for a verb releasectl does not have.
func unknownVerb(name string) error {
	names := make([]string, 0, len(verbs))
	for _, v := range verbs {
		names = append(names, v.name)
	}
	if s := suggest(name, names); s != "" {
		return api.Usagef("unknown verb %q; did you mean %q? (releasectl --help lists the verbs)", name, s)
	}
	return api.Usagef("unknown verb %q; run releasectl --help for the list", name)
}

// unknownFlagRE is compiled on first use, on the error path only: a
// package-level regexp would be compiled at every start of releasectl,
// rollbacks included.
var unknownFlagRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^unknown (?:shorthand )?flag: '?-{0,2}([^' ]+)'?`)
})

// flagError improves pflag's parse error for verb: for an unknown flag it
// says which flag was probably meant, or which verbs take that flag.
func flagError(err error, verb string, fs *pflag.FlagSet) error {
	hint := ""
	if m := unknownFlagRE().FindStringSubmatch(err.Error()); m != nil && len(m[1]) > 1 {
		typed := strings.SplitN(m[1], "=", 2)[0]
		var names []string
		fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
		if s := suggest(typed, names); s != "" {
			hint = fmt.Sprintf("; did you mean --%s?", s)
		} else if others := verbsWithFlag(typed); len(others) > 0 {
			hint = fmt.Sprintf("; --%s is a flag of %s", typed, strings.Join(others, ", "))
		}
	}
	where := "releasectl --help"
	if verb != "" {
		where = "releasectl " + verb + " --help"
	}
	return api.Usagef("%v%s (see %s)", err, hint, where)
}

// verbsWithFlag lists the verbs that take --name.
func verbsWithFlag(name string) []string {
	var out []string
	for _, v := range verbs {
		if v.flags == nil {
			continue
		}
		fs := pflag.NewFlagSet(v.name, pflag.ContinueOnError)
		var o verbOpts
		v.flags(fs, &o)
		if fs.Lookup(name) != nil {
			out = append(out, v.name)
		}
	}
	return slices.Compact(out)
}

// valuedFlags is the set of flags ("--root", "-n") that take a value as
// the next argument, over the global flags and every verb's, so that
// splitVerb does not mistake a flag's value for the verb.
func valuedFlags() map[string]bool {
	m := map[string]bool{}
	add := func(fs *pflag.FlagSet) {
		fs.VisitAll(func(f *pflag.Flag) {
			if f.NoOptDefVal != "" {
				return // a bool flag (or one whose value is optional)
			}
			m["--"+f.Name] = true
			if f.Shorthand != "" {
				m["-"+f.Shorthand] = true
			}
		})
	}
	fs := pflag.NewFlagSet("g", pflag.ContinueOnError)
	var g globals
	g.addFlags(fs)
	add(fs)
	for _, v := range verbs {
		if v.flags != nil {
			fs := pflag.NewFlagSet(v.name, pflag.ContinueOnError)
			var o verbOpts
			v.flags(fs, &o)
			add(fs)
		}
	}
	return m
}

package validate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/spf13/pflag"
)

// AddFlags registers the options as flags of fs, with o's current values
// as defaults (call it on DefaultOptions()). Budgets use the syntax of
// ParseBudget; policies are KIND=POLICY or just POLICY for every kind.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.IndexNames, "index-names", o.IndexNames, "files served for a URL ending in /")
	fs.BoolVar(&o.PrettyURLs, "pretty-urls", o.PrettyURLs, "resolve /a to a.html")
	fs.BoolVar(&o.DirWithoutSlash, "dir-without-slash", o.DirWithoutSlash, "accept links to dir for dir/ (servers redirect)")
	fs.BoolVar(&o.EmptyHrefOK, "empty-href-ok", o.EmptyHrefOK, `accept href="" and action="" (the page itself)`)
	fs.StringVar(&o.BasePath, "base-path", o.BasePath, "URL path the site is served under")
	fs.StringSliceVar(&o.SiteURLs, "site-url", o.SiteURLs, "absolute URL prefix that is this site (repeatable)")
	fs.StringSliceVar(&o.IgnoreFiles, "ignore-files", o.IgnoreFiles, "doublestar glob of files not checked (repeatable)")
	fs.StringSliceVar(&o.IgnoreURLs, "ignore-urls", o.IgnoreURLs, "doublestar glob of references not checked (repeatable)")
	fs.StringSliceVar(&o.IgnoreAttrs, "ignore-attr", o.IgnoreAttrs, "attribute (or class) that excludes an element's references")
	fs.StringSliceVar(&o.Required, "required", o.Required, "file that must exist (repeatable; replaces the default list)")
	fs.Var(&policyFlag{o}, "policy", "new|all|off for every check, or KIND=POLICY (kinds: "+strings.Join(Kinds, ", ")+")")
	fs.Var(&budgetFlag{o}, "budget", `size budget "GLOB:max=200KiB,gzip=60KiB,growth=10%,growth-bytes=20KiB,per-file" (repeatable)`)
	fs.Var(&sizeFlag{&o.MaxTotalBytes}, "max-total", "limit on the total size of the tree (e.g. 500MiB)")
	fs.Float64Var(&o.ShrinkLimit, "shrink-limit", o.ShrinkLimit, "fail when pages or bytes drop by more than this fraction against live (0 disables)")
}

type policyFlag struct{ o *Options }

func (f *policyFlag) Type() string { return "policy" }
func (f *policyFlag) String() string {
	if f.o == nil {
		return ""
	}
	var parts []string
	for _, k := range Kinds {
		if p, ok := f.o.Policy[k]; ok {
			parts = append(parts, k+"="+string(p))
		}
	}
	if len(parts) == 0 {
		return string(f.o.DefaultPolicy)
	}
	return strings.Join(parts, ",")
}
func (f *policyFlag) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		kind, pol, ok := strings.Cut(part, "=")
		if !ok {
			p, err := ParsePolicy(part)
			if err != nil {
				return err
			}
			f.o.DefaultPolicy = p
			continue
		}
		if !validKind(kind) {
			return fmt.Errorf("validate: policy %q: unknown check %q (want one of %s)", part, kind, strings.Join(Kinds, ", "))
		}
		p, err := ParsePolicy(pol)
		if err != nil {
			return err
		}
		if f.o.Policy == nil {
			f.o.Policy = map[string]Policy{}
		}
		f.o.Policy[kind] = p
	}
	return nil
}

func validKind(k string) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

type budgetFlag struct{ o *Options }

func (f *budgetFlag) Type() string { return "budget" }
func (f *budgetFlag) String() string {
	if f.o == nil {
		return ""
	}
	var s []string
	for _, b := range f.o.Budgets {
		s = append(s, b.Glob)
	}
	return strings.Join(s, " ")
}
func (f *budgetFlag) Set(s string) error {
	b, err := ParseBudget(s)
	if err != nil {
		return err
	}
	f.o.Budgets = append(f.o.Budgets, b)
	return nil
}

type sizeFlag struct{ p *int64 }

func (f *sizeFlag) Type() string { return "size" }
func (f *sizeFlag) String() string {
	if f.p == nil || *f.p == 0 {
		return "0"
	}
	return strconv.FormatInt(*f.p, 10)
}
func (f *sizeFlag) Set(s string) error {
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	*f.p = n
	return nil
}

// ErrBadBudget is returned (wrapped) for a budget or size that does not
// parse.
var ErrBadBudget = errors.New("bad budget")

// ParseBudget parses "GLOB:key=value,..." with keys max, gzip (sizes),
// growth (a percentage or fraction), growth-bytes (a size) and the flag
// per-file. The glob is everything before the last ':' that is followed
// by a known key.
func ParseBudget(s string) (Budget, error) {
	i := strings.LastIndex(s, ":")
	for i > 0 && !knownKey(s[i+1:]) {
		i = strings.LastIndex(s[:i], ":")
	}
	if i <= 0 {
		return Budget{}, fmt.Errorf("validate: budget %q: want GLOB:max=SIZE,...: %w", s, ErrBadBudget)
	}
	b := Budget{Glob: s[:i]}
	if !doublestar.ValidatePattern(b.Glob) {
		return Budget{}, fmt.Errorf("validate: budget %q: glob %q: %w", s, b.Glob, doublestar.ErrBadPattern)
	}
	for _, kv := range strings.Split(s[i+1:], ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		var err error
		switch k {
		case "max":
			b.MaxBytes, err = ParseSize(v)
		case "gzip":
			b.MaxGzip, err = ParseSize(v)
		case "growth-bytes":
			b.MaxGrowthBytes, err = ParseSize(v)
		case "growth":
			pct := strings.HasSuffix(v, "%")
			b.MaxGrowth, err = strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
			if err == nil && pct {
				b.MaxGrowth /= 100
			}
			if err == nil && (b.MaxGrowth < 0 || b.MaxGrowth != b.MaxGrowth) {
				err = errors.New("negative")
			}
		case "per-file":
			b.PerFile = true
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return Budget{}, fmt.Errorf("validate: budget %q: %q: %v: %w", s, kv, err, ErrBadBudget)
		}
	}
	return b, nil
}

func knownKey(s string) bool {
	for _, k := range []string{"max=", "gzip=", "growth=", "growth-bytes=", "per-file"} {
		if strings.HasPrefix(strings.TrimSpace(s), k) {
			return true
		}
	}
	return false
}

// ParseSize parses a byte count with an optional unit: B, K/KB/KiB,
// M/MB/MiB, G/GB/GiB (all powers of 1024).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"gib", 1 << 30}, {"gb", 1 << 30}, {"g", 1 << 30}, {"mib", 1 << 20}, {"mb", 1 << 20}, {"m", 1 << 20},
		{"kib", 1 << 10}, {"kb", 1 << 10}, {"k", 1 << 10}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f != f || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("validate: size %q: want a number with an optional unit (KiB, MiB, GiB): %w", s, ErrBadBudget)
	}
	return int64(f * float64(mult)), nil
}

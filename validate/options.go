package validate

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/example/release-agent/manifest"
)

// Policy says which findings of a kind block the release.
type Policy string

// Policies.
const (
	PolicyNew Policy = "new" // only findings the live release does not have block (default)
	PolicyAll Policy = "all" // every finding blocks
	PolicyOff Policy = "off" // the check does not run or never blocks; findings are not reported
)

// ParsePolicy parses "new", "all" or "off".
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.ToLower(strings.TrimSpace(s))); p {
	case PolicyNew, PolicyAll, PolicyOff:
		return p, nil
	}
	return "", fmt.Errorf("validate: policy %q: want new, all or off", s)
}

// Budget is a size limit on the files whose logical path matches Glob
// (doublestar syntax, e.g. "assets/**/*.js"). Zero fields are no limit.
type Budget struct {
	Glob string `json:"glob" toml:"glob"`
	// MaxBytes and MaxGzip limit the total raw and gzip-compressed size of
	// the group (of each file with PerFile).
	MaxBytes int64 `json:"max_bytes,omitempty" toml:"max_bytes"`
	MaxGzip  int64 `json:"max_gzip,omitempty" toml:"max_gzip"`
	// MaxGrowth limits growth against the live release as a fraction
	// (0.1 = 10%), MaxGrowthBytes in bytes; files are matched with live by
	// logical path, so content-hashed names compare correctly.
	MaxGrowth      float64 `json:"max_growth,omitempty" toml:"max_growth"`
	MaxGrowthBytes int64   `json:"max_growth_bytes,omitempty" toml:"max_growth_bytes"`
	// PerFile applies the limits to each file rather than the group total.
	PerFile bool `json:"per_file,omitempty" toml:"per_file"`
}

// Options configure Check. The zero value is not useful: start from
// DefaultOptions.
type Options struct {
	// IndexNames are the files served for a URL ending in "/", in order
	// (default index.html).
	IndexNames []string
	// PrettyURLs resolves "/a" to "a.html" when "a" does not exist.
	PrettyURLs bool
	// DirWithoutSlash accepts "dir" for "dir/" (web servers redirect it);
	// when false such a link is a finding. Default true.
	DirWithoutSlash bool
	// EmptyHrefOK accepts href="" on a and area, and an empty form
	// action: both mean the page itself (Sphinx writes them). Default true;
	// an empty src, or href of link, is always a finding.
	EmptyHrefOK bool
	// BasePath is the URL path the site is served under ("/" or "/docs/").
	// Site-absolute references outside it leave the site.
	BasePath string
	// SiteURLs are absolute URL prefixes that are this site (for example
	// "https://example.com/docs/"); references under them are checked as
	// local ones instead of being counted as external.
	SiteURLs []string

	// Pages, if not empty, restricts the checked pages and stylesheets to
	// those matching these doublestar globs; every file still counts as a
	// target. Used for single-file runs.
	Pages []string
	// IgnoreFiles are doublestar globs of files not checked (their
	// references are not read; they still exist as targets).
	IgnoreFiles []string
	// IgnoreURLs are doublestar globs matched against each reference as
	// written (after trimming) and against its resolved tree path; a match
	// skips the reference.
	IgnoreURLs []string
	// IgnoreAttrs are attributes (e.g. data-proofer-ignore) that exclude an
	// element's references when present on the element (also accepted as
	// a class name, as html-proofer does).
	IgnoreAttrs []string

	// BaselineFirst makes the first release of a site (no live release to
	// compare with) its own baseline: under policy "new", its link, asset,
	// fragment and sourcemap findings are reported but do not block, so a
	// site with old breakage can adopt the gate without fixing the past
	// first. Required files, size budgets and policy "all" still block.
	// Default true.
	BaselineFirst bool

	// Policy maps a kind (KindLink, ...) to its policy; kinds not listed
	// use DefaultPolicy.
	Policy        map[string]Policy
	DefaultPolicy Policy

	// Required files (tree paths) that must exist, e.g. index.html.
	Required []string
	// Budgets are size limits; see Budget.
	Budgets []Budget
	// MaxTotalBytes limits the size of all own files (0 = none).
	MaxTotalBytes int64
	// ShrinkLimit fails the release when the page count or the total size
	// drops by more than this fraction against live (default 0.5; 0 or
	// negative disables).
	ShrinkLimit float64
	// Movers is how many of the biggest size changes to report (default 10).
	Movers int

	// Manifest and LiveManifest, when set, give the sizes of the files of
	// the tree and of live (carried entries are not counted); otherwise
	// sizes come from the file systems.
	Manifest, LiveManifest *manifest.Manifest
	// Logical and LiveLogical map content-hashed names to logical paths
	// for size comparison (HashedToLogical of hashassets' Manifest.Map());
	// nil means names are logical. A file and its hashed copy count once.
	Logical, LiveLogical map[string]string

	// Workers bounds the pages parsed at once (default GOMAXPROCS).
	Workers int
	// Logger receives progress at debug level (default slog.Default()).
	Logger *slog.Logger
}

// DefaultOptions returns the defaults: index.html, no pretty URLs,
// directory links without a slash accepted, site at "/", policy "new" for
// every check, required index.html, shrink guard 50%, ignore attribute
// data-proofer-ignore.
func DefaultOptions() Options {
	return Options{
		IndexNames:      []string{"index.html"},
		DirWithoutSlash: true,
		EmptyHrefOK:     true,
		BasePath:        "/",
		IgnoreAttrs:     []string{"data-proofer-ignore"},
		DefaultPolicy:   PolicyNew,
		BaselineFirst:   true,
		Required:        []string{"index.html"},
		ShrinkLimit:     0.5,
		Movers:          10,
	}
}

func (o *Options) policy(kind string) Policy {
	if p, ok := o.Policy[kind]; ok {
		return p
	}
	if o.DefaultPolicy == "" {
		return PolicyNew
	}
	return o.DefaultPolicy
}

// check validates the options, naming the field at fault.
func (o *Options) check() error {
	for _, g := range [][]string{o.Pages, o.IgnoreFiles, o.IgnoreURLs} {
		for _, p := range g {
			if !doublestar.ValidatePattern(p) {
				return fmt.Errorf("validate: bad glob %q: %w", p, doublestar.ErrBadPattern)
			}
		}
	}
	for _, b := range o.Budgets {
		if !doublestar.ValidatePattern(b.Glob) {
			return fmt.Errorf("validate: budget glob %q: %w", b.Glob, doublestar.ErrBadPattern)
		}
	}
	for k, p := range o.Policy {
		if _, err := ParsePolicy(string(p)); err != nil {
			return fmt.Errorf("validate: policy for %s: %w", k, err)
		}
	}
	if o.DefaultPolicy != "" {
		if _, err := ParsePolicy(string(o.DefaultPolicy)); err != nil {
			return fmt.Errorf("validate: default policy: %w", err)
		}
	}
	if o.BasePath != "" && !strings.HasPrefix(o.BasePath, "/") {
		return fmt.Errorf("validate: base path %q must start with /", o.BasePath)
	}
	return nil
}

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := doublestar.Match(g, s); ok {
			return true
		}
	}
	return false
}

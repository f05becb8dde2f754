package validate

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Schema is the version of the JSON form of Report. It changes only when a
// field changes meaning or disappears; new fields do not change it.
const Schema = 1

// Kinds of findings. Each kind is one check with its own Policy.
const (
	KindLink      = "link"      // a navigation reference (a, area, form, iframe, meta refresh, ...) to a missing target
	KindAsset     = "asset"     // a resource (img, script, stylesheet, CSS url(), @import, media, ...) that is missing
	KindFragment  = "fragment"  // page#id where the page has no such id (or a name)
	KindSourceMap = "sourcemap" // a sourceMappingURL (JavaScript or CSS) whose map is missing
	KindRequired  = "required"  // a required file is missing
	KindSize      = "size"      // a size budget or growth limit is exceeded
	KindShrink    = "shrink"    // page count or total size dropped too much against live
)

// Kinds lists every kind, in report order.
var Kinds = []string{KindRequired, KindShrink, KindLink, KindAsset, KindFragment, KindSourceMap, KindSize}

// Finding is one problem in the checked tree.
type Finding struct {
	// File is the page (or file) at fault, relative to the tree's root;
	// empty for findings about the whole tree (shrink).
	File string `json:"file"`
	// Line is the 1-based line of the reference in File, 0 if none.
	Line int `json:"line"`
	// Ref is the reference exactly as written in the page (or the budget
	// glob / required path for size and required findings).
	Ref  string `json:"ref"`
	Kind string `json:"kind"`
	// Target is the tree path the reference resolved to (or was looked
	// for), when there is one.
	Target string `json:"target"`
	// New is true when the live release does not have the same finding
	// (or there is no live release). Only new findings block under policy
	// "new".
	New    bool   `json:"new"`
	Reason string `json:"reason"`
	// Blocking is true when the finding blocks under its kind's policy
	// (see Report.Blocking).
	Blocking bool `json:"blocking"`
}

// KindCount counts the findings of one kind.
type KindCount struct {
	Total    int    `json:"total"`
	New      int    `json:"new"`
	Policy   Policy `json:"policy"`
	Blocking int    `json:"blocking"`
}

// Mover is a file whose size changed against live (by logical path).
type Mover struct {
	Path   string `json:"path"`
	Before int64  `json:"before"`
	After  int64  `json:"after"`
	Op     string `json:"op"` // added, removed, changed
}

// BudgetUsage is the measured size of one budget group.
type BudgetUsage struct {
	Glob      string  `json:"glob"`
	Files     int     `json:"files"`
	Bytes     int64   `json:"bytes"`
	Gzip      int64   `json:"gzip,omitempty"`
	LiveBytes int64   `json:"live_bytes,omitempty"`
	MaxBytes  int64   `json:"max_bytes,omitempty"`
	MaxGzip   int64   `json:"max_gzip,omitempty"`
	MaxGrowth float64 `json:"max_growth,omitempty"`
}

// SizeReport compares the tree's size with live.
type SizeReport struct {
	Files     int           `json:"files"`
	Pages     int           `json:"pages"`
	Bytes     int64         `json:"bytes"`
	LiveFiles int           `json:"live_files,omitempty"`
	LivePages int           `json:"live_pages,omitempty"`
	LiveBytes int64         `json:"live_bytes,omitempty"`
	Added     int           `json:"added"`
	Removed   int           `json:"removed"`
	Changed   int           `json:"changed"`
	Movers    []Mover       `json:"movers,omitempty"` // biggest absolute changes first
	Budgets   []BudgetUsage `json:"budgets,omitempty"`
}

// Report is the result of Check. It is a plain value (JSON via
// encoding/json) and is stored with the release record.
type Report struct {
	Schema   int  `json:"schema"`
	Pages    int  `json:"pages"`    // HTML pages checked
	Styles   int  `json:"styles"`   // CSS files checked
	Scripts  int  `json:"scripts"`  // JavaScript files checked (for source maps)
	SVGs     int  `json:"svgs"`     // SVG files checked (references; ids are fragment targets)
	Refs     int  `json:"refs"`     // local references checked
	External int  `json:"external"` // references to other sites: counted, never fetched
	Other    int  `json:"other"`    // mailto:, tel:, data:, javascript: ...
	Ignored  int  `json:"ignored"`  // references skipped by ignore rules
	Live     bool `json:"live"`     // compared with a live release
	// Baseline names the saved report the findings were compared with
	// instead of a live release (see ApplyBaseline); empty if none.
	Baseline string               `json:"baseline,omitempty"`
	Counts   map[string]KindCount `json:"counts"`
	Findings []Finding            `json:"findings"`
	Size     *SizeReport          `json:"size,omitempty"`
	Blocking int                  `json:"blocking"` // findings that block under the policies
	Reject   bool                 `json:"rejected"`
}

// Rejected reports whether the gate refuses the tree: at least one finding
// blocks under its kind's policy.
func (r *Report) Rejected() bool { return r.Reject }

// TextLimit is how many findings of each kind WriteText prints.
const TextLimit = 20

// TextOptions shape WriteTextWith.
type TextOptions struct {
	// Limit is how many findings of each kind are listed (0: TextLimit);
	// All lists every finding.
	Limit int
	All   bool
	// MoreHint ends the "... and N more" line of a kind cut at Limit, e.g.
	// "--all lists them".
	MoreHint string
}

// WriteText writes the report for people with the default TextOptions;
// see WriteTextWith.
func (r *Report) WriteText(w io.Writer) error { return r.WriteTextWith(w, TextOptions{}) }

// WriteTextWith writes the report for people: a summary, then the
// findings grouped by kind, new ones first, each as "file:line: ref:
// reason", at most o.Limit per kind with the count of the rest.
func (r *Report) WriteTextWith(w io.Writer, o TextOptions) error {
	limit := o.Limit
	if limit <= 0 {
		limit = TextLimit
	}
	bw := bufio.NewWriter(w)
	verdict := "passed"
	if r.Reject {
		verdict = "REJECTED"
	}
	fmt.Fprintf(bw, "validate: %s: %d pages, %d stylesheets, %d local references, %d external (not fetched), %d findings (%d blocking)\n",
		verdict, r.Pages, r.Styles, r.Refs, r.External, len(r.Findings), r.Blocking)
	old := ""
	switch {
	case r.Baseline != "":
		old = "in the baseline"
	case r.Live:
		old = "existing in live"
	}
	for _, k := range Kinds {
		c, ok := r.Counts[k]
		if !ok || c.Total == 0 {
			continue
		}
		if old != "" {
			fmt.Fprintf(bw, "\n%s: %d (%d new, %d %s; policy %s, %d blocking)\n", k, c.Total, c.New, c.Total-c.New, old, c.Policy, c.Blocking)
		} else {
			fmt.Fprintf(bw, "\n%s: %d (policy %s, %d blocking)\n", k, c.Total, c.Policy, c.Blocking)
		}
		n := 0
		for _, f := range newFirst(r.Findings, k) {
			if n == limit && !o.All {
				more := ""
				if o.MoreHint != "" {
					more = " (" + o.MoreHint + ")"
				}
				fmt.Fprintf(bw, "  ... and %d more %s findings%s\n", c.Total-limit, k, more)
				break
			}
			n++
			tag := ""
			switch {
			case !f.New && r.Baseline != "":
				tag = " [in baseline]"
			case !f.New && r.Live:
				tag = " [existing]"
			}
			loc := f.File
			if f.Line > 0 {
				loc = fmt.Sprintf("%s:%d", f.File, f.Line)
			}
			if loc == "" { // about the whole tree
				fmt.Fprintf(bw, "  %s: %s%s\n", f.Ref, f.Reason, tag)
				continue
			}
			fmt.Fprintf(bw, "  %s: %s: %s%s\n", loc, f.Ref, f.Reason, tag)
		}
	}
	if s := r.Size; s != nil {
		fmt.Fprintf(bw, "\nsize: %d files, %d pages, %s", s.Files, s.Pages, human(s.Bytes))
		if r.Live {
			fmt.Fprintf(bw, " (live: %d files, %d pages, %s); %d added, %d removed, %d changed",
				s.LiveFiles, s.LivePages, human(s.LiveBytes), s.Added, s.Removed, s.Changed)
		}
		fmt.Fprintln(bw)
		for _, b := range s.Budgets {
			fmt.Fprintf(bw, "  budget %s: %d files, %s", b.Glob, b.Files, human(b.Bytes))
			if b.MaxGzip > 0 {
				fmt.Fprintf(bw, ", %s gzip", human(b.Gzip))
			}
			fmt.Fprintln(bw)
		}
		if len(s.Movers) > 0 {
			fmt.Fprintln(bw, "  biggest movers:")
			for _, m := range s.Movers {
				fmt.Fprintf(bw, "    %-7s %s: %s -> %s (%+d bytes)\n", m.Op, m.Path, human(m.Before), human(m.After), m.After-m.Before)
			}
		}
	}
	return bw.Flush()
}

// newFirst returns the findings of kind, new ones first, each group in
// report order.
func newFirst(fs []Finding, kind string) []Finding {
	var nw, old []Finding
	for _, f := range fs {
		switch {
		case f.Kind != kind:
		case f.New:
			nw = append(nw, f)
		default:
			old = append(old, f)
		}
	}
	return append(nw, old...)
}

func human(n int64) string {
	switch {
	case n >= 10<<20 || n <= -10<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10 || n <= -10<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func sortFindings(fs []Finding) {
	order := map[string]int{}
	for i, k := range Kinds {
		order[k] = i
	}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := order[a.Kind] - order[b.Kind]; c != 0 {
			return c
		}
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Ref, b.Ref)
	})
}

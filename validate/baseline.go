package validate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
)

// Key identifies a finding across two checks of a site: its kind, the
// file at fault (by logical path) and the reference exactly as written (or
// the budget glob / required path). The line is not part of it: an edit
// above a broken link moves it without making it new. Two findings with
// the same key are the same finding; this is how a tree is compared with
// the live release and with a baseline report alike.
type Key struct {
	Kind, File, Ref string
}

// Key returns the identity of f, with its file as recorded.
func (f *Finding) Key() Key { return Key{f.Kind, f.File, f.Ref} }

// count recomputes Counts, Blocking and Reject from the findings (their
// Blocking flags) and the policy of each kind.
func (r *Report) count(policy func(kind string) Policy) {
	r.Counts = map[string]KindCount{}
	r.Blocking = 0
	for _, f := range r.Findings {
		c := r.Counts[f.Kind]
		c.Policy = policy(f.Kind)
		c.Total++
		if f.New {
			c.New++
		}
		if f.Blocking {
			c.Blocking++
			r.Blocking++
		}
		r.Counts[f.Kind] = c
	}
	r.Reject = r.Blocking > 0
}

// ApplyBaseline compares r with base, a report of an earlier check of the
// same site (typically saved with `releasectl validate --json` on the main
// branch), as Check compares a tree with the live release: a finding
// whose Key base also has is not new, and under policy "new" only new
// findings block. Policy "all" still blocks on every finding. name (the
// baseline's file name) is recorded in r.Baseline. r must come from a
// Check without a live release; base is only read.
func (r *Report) ApplyBaseline(base *Report, name string) {
	old := make(map[Key]bool, len(base.Findings))
	for i := range base.Findings {
		old[base.Findings[i].Key()] = true
	}
	policy := map[string]Policy{}
	for k, c := range r.Counts {
		policy[k] = c.Policy
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		f.New = !old[f.Key()]
		p := policy[f.Kind]
		f.Blocking = p == PolicyAll || p == PolicyNew && f.New
	}
	r.Baseline = name
	r.count(func(kind string) Policy { return policy[kind] })
}

// ReadBaseline decodes a saved report: either the document `releasectl
// validate --json` prints ({"schema":1,"rejected":...,"report":{...}})
// or a bare Report. It refuses a document of another schema or one that
// is neither, saying which.
func ReadBaseline(rd io.Reader) (*Report, error) {
	var doc struct {
		Schema   *int            `json:"schema"`
		Report   *Report         `json:"report"`
		Findings json.RawMessage `json:"findings"`
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not a validation report: %w", err)
	}
	rep := doc.Report
	if rep == nil {
		if doc.Findings == nil {
			return nil, fmt.Errorf("not a validation report: no \"report\" or \"findings\" (save one with `releasectl validate --json DIR > FILE`)")
		}
		rep = new(Report)
		if err := json.Unmarshal(b, rep); err != nil {
			return nil, fmt.Errorf("not a validation report: %w", err)
		}
	}
	if rep.Schema != Schema {
		return nil, fmt.Errorf("report schema %d, want %d", rep.Schema, Schema)
	}
	for i, f := range rep.Findings {
		if f.Kind == "" {
			return nil, fmt.Errorf("finding %d has no kind", i)
		}
	}
	return rep, nil
}

// WriteGitHub writes the findings as GitHub Actions workflow commands,
// one per finding, new ones first within each kind: "::error" for a
// blocking finding, "::warning" for one that does not block (it is in
// the baseline or the live release, or its kind's policy lets it pass).
// Files are named dir/FILE (dir is the checked directory as given, so
// that annotations point into the repository), with the line when known
// and the kind as title. Values are escaped as GitHub's toolkit does: %,
// CR and LF everywhere, and ":" and "," in properties. A summary line
// (not a command) comes first.
func (r *Report) WriteGitHub(w io.Writer, dir string) error {
	bw := bufio.NewWriter(w)
	verdict := "passed"
	if r.Reject {
		verdict = "REJECTED"
	}
	fmt.Fprintf(bw, "validate: %s: %d pages, %d local references, %d external (not fetched), %d findings (%d blocking)\n",
		verdict, r.Pages, r.Refs, r.External, len(r.Findings), r.Blocking)
	for _, k := range Kinds {
		for _, f := range newFirst(r.Findings, k) {
			cmd := "warning"
			if f.Blocking {
				cmd = "error"
			}
			var props []string
			if f.File != "" {
				props = append(props, "file="+escapeProperty(path.Join(dir, f.File)))
				if f.Line > 0 {
					props = append(props, fmt.Sprintf("line=%d", f.Line))
				}
			}
			props = append(props, "title="+escapeProperty(f.Kind))
			msg := f.Ref + ": " + f.Reason
			switch {
			case !f.New && r.Baseline != "":
				msg += " (in the baseline)"
			case !f.New && r.Live:
				msg += " (existing in live)"
			}
			fmt.Fprintf(bw, "::%s %s::%s\n", cmd, strings.Join(props, ","), escapeData(msg))
		}
	}
	return bw.Flush()
}

var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

// escapeData escapes the message of a workflow command.
func escapeData(s string) string { return dataEscaper.Replace(s) }

// escapeProperty escapes a property value of a workflow command.
func escapeProperty(s string) string { return propertyEscaper.Replace(s) }

package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
)

// ciTrees are a site on "main" (the baseline) and on a branch that keeps
// main's broken link, adds new breakage and has names that need escaping
// in workflow commands.
func ciTrees() (main, branch fstest.MapFS) {
	main = fstest.MapFS{
		"index.html": page("<a href=\"old.html\">o</a>\n"),
	}
	var imgs []string
	for i := range 23 {
		imgs = append(imgs, `<img src="img/`+string(rune('a'+i))+`.png">`)
	}
	branch = fstest.MapFS{
		// Two lines added above the old link: it moves, it is not new.
		"index.html": page("<p>\n<a href=\"new.html#x\">n</a>\n<a href=\"old.html\">o</a>\n" + strings.Join(imgs, "\n")),
		"a,b:c.html": page("<a href=\"100%25.html\">p</a>"),
	}
	return main, branch
}

// ciCheck checks tree as `releasectl validate DIR` does without a store:
// every finding counts (no first-release baseline).
func ciCheck(t *testing.T, tree fstest.MapFS) *Report {
	t.Helper()
	o := DefaultOptions()
	o.BaselineFirst = false
	rep, err := Check(context.Background(), tree, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestApplyBaseline(t *testing.T) {
	main, branch := ciTrees()
	base := ciCheck(t, main)
	if !base.Rejected() || base.Blocking != 1 {
		t.Fatalf("main alone: rejected=%v blocking=%d, want its one broken link to block", base.Rejected(), base.Blocking)
	}
	// Through JSON, as a saved report travels.
	js, err := json.Marshal(&struct {
		Schema   int     `json:"schema"`
		Rejected bool    `json:"rejected"`
		Report   *Report `json:"report"`
	}{Schema, base.Rejected(), base})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := ReadBaseline(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	rep := ciCheck(t, branch)
	total := len(rep.Findings)
	rep.ApplyBaseline(saved, "main-report.json")
	if len(rep.Findings) != total || rep.Baseline != "main-report.json" {
		t.Fatalf("findings %d -> %d, baseline %q", total, len(rep.Findings), rep.Baseline)
	}
	for _, f := range rep.Findings {
		old := f.Kind == KindLink && f.File == "index.html" && f.Ref == "old.html"
		if f.New == old || f.Blocking == old {
			t.Errorf("%+v: new=%v blocking=%v, want %v", f, f.New, f.Blocking, !old)
		}
	}
	if !rep.Rejected() || rep.Blocking != total-1 || rep.Counts[KindLink].New != 2 || rep.Counts[KindLink].Blocking != 2 {
		t.Errorf("blocking %d of %d, link counts %+v", rep.Blocking, total, rep.Counts[KindLink])
	}
	// Against itself, nothing is new and nothing blocks.
	again := ciCheck(t, main)
	again.ApplyBaseline(saved, "main-report.json")
	if again.Rejected() || again.Blocking != 0 || again.Counts[KindLink].Total != 1 {
		t.Errorf("main against its own report: rejected=%v blocking=%d counts=%v", again.Rejected(), again.Blocking, again.Counts)
	}
	// Policy "all" blocks on old findings too.
	o := DefaultOptions()
	o.BaselineFirst = false
	o.Policy = map[string]Policy{KindLink: PolicyAll}
	all, _ := Check(context.Background(), main, nil, o)
	all.ApplyBaseline(saved, "main-report.json")
	if !all.Rejected() {
		t.Error("policy all: an old finding did not block")
	}
}

func TestReadBaselineRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":      "<html>",
		"other json":    `{"schema":1,"releases":[]}`,
		"schema":        `{"schema":2,"findings":[]}`,
		"no kind":       `{"schema":1,"findings":[{"file":"a.html"}]}`,
		"wrong types":   `{"schema":1,"findings":"x"}`,
		"empty":         ``,
		"report schema": `{"schema":1,"report":{"schema":9,"findings":[]}}`,
	} {
		if rep, err := ReadBaseline(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: accepted: %+v", name, rep)
		}
	}
	if rep, err := ReadBaseline(strings.NewReader(`{"schema":1,"findings":[]}`)); err != nil || len(rep.Findings) != 0 {
		t.Errorf("bare empty report: %v %v", rep, err)
	}
}

// TestCIGolden pins the three output formats of a CI run against a
// baseline: text (bounded and --all), github and JSON.
func TestCIGolden(t *testing.T) {
	main, branch := ciTrees()
	rep := ciCheck(t, branch)
	rep.ApplyBaseline(ciCheck(t, main), "main-report.json")

	var txt, all, gh bytes.Buffer
	rep.WriteTextWith(&txt, TextOptions{MoreHint: "--all lists them"})
	rep.WriteTextWith(&all, TextOptions{All: true})
	rep.WriteGitHub(&gh, "./public")
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ci-text.golden", txt.Bytes())
	golden(t, "ci-all.golden", all.Bytes())
	golden(t, "ci-github.golden", gh.Bytes())
	golden(t, "ci-json.golden", append(js, '\n'))

	if !strings.Contains(txt.String(), "... and 3 more asset findings (--all lists them)") {
		t.Errorf("bounded text lacks the more line:\n%s", txt.String())
	}
	// New findings come before old ones within a kind.
	if i, j := strings.Index(txt.String(), "new.html#x"), strings.Index(txt.String(), "old.html"); i < 0 || j < i {
		t.Errorf("the new link is not listed before the old one:\n%s", txt.String())
	}
	// --all: every finding on a line of its own.
	for _, f := range rep.Findings {
		if !strings.Contains(all.String(), f.Ref+": "+f.Reason) {
			t.Errorf("--all lacks %s", f.Ref)
		}
	}
	// github: one command per finding, errors for the blocking ones.
	var errs, warns int
	for _, l := range strings.Split(strings.TrimSpace(gh.String()), "\n") {
		switch {
		case strings.HasPrefix(l, "::error "):
			errs++
		case strings.HasPrefix(l, "::warning "):
			warns++
		case strings.HasPrefix(l, "::"):
			t.Errorf("unexpected command %q", l)
		}
	}
	if errs != rep.Blocking || errs+warns != len(rep.Findings) {
		t.Errorf("github: %d errors %d warnings, want %d and %d", errs, warns, rep.Blocking, len(rep.Findings)-rep.Blocking)
	}
	if !strings.Contains(gh.String(), "::error file=public/a%2Cb%3Ac.html,line=1,title=link::100%2525.html: ") {
		t.Errorf("github: properties or data not escaped:\n%s", gh.String())
	}
}

func TestGitHubEscaping(t *testing.T) {
	if got := escapeData("a%b\r\nc:d,e"); got != "a%25b%0D%0Ac:d,e" {
		t.Errorf("data: %q", got)
	}
	if got := escapeProperty("a%b\r\nc:d,e"); got != "a%25b%0D%0Ac%3Ad%2Ce" {
		t.Errorf("property: %q", got)
	}
}

// FuzzReadBaseline: any bytes given as --baseline are refused with an
// error or give a report whose findings all have a kind; applying it to a
// report never panics and keeps the counts consistent.
func FuzzReadBaseline(f *testing.F) {
	f.Add([]byte(`{"schema":1,"findings":[]}`))
	f.Add([]byte(`{"schema":1,"rejected":true,"report":{"schema":1,"findings":[{"file":"a.html","line":3,"ref":"x","kind":"link","new":true}]}}`))
	f.Add([]byte(`{"schema":1,"report":null,"findings":null}`))
	f.Add([]byte(`{"schema":1,"findings":[{"kind":"link","file":null}]}`))
	main, branch := ciTrees()
	o := DefaultOptions()
	o.BaselineFirst = false
	if rep, err := Check(context.Background(), main, nil, o); err == nil {
		if js, err := json.Marshal(rep); err == nil {
			f.Add(js)
		}
	}
	cur, err := Check(context.Background(), branch, nil, o)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		base, err := ReadBaseline(bytes.NewReader(b))
		if err != nil {
			return
		}
		r := *cur
		r.Findings = append([]Finding(nil), cur.Findings...)
		r.ApplyBaseline(base, "fuzz.json")
		blocking := 0
		for _, f := range r.Findings {
			if f.Blocking {
				blocking++
			}
		}
		if blocking != r.Blocking || r.Rejected() != (blocking > 0) || len(r.Findings) != len(cur.Findings) {
			t.Fatalf("blocking %d, report says %d (rejected %v)", blocking, r.Blocking, r.Rejected())
		}
	})
}

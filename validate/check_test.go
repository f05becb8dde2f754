package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/example/release-agent/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func page(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func check(t *testing.T, fsys, live fstest.MapFS, set func(*Options)) *Report {
	t.Helper()
	o := DefaultOptions()
	if set != nil {
		set(&o)
	}
	var rep *Report
	var err error
	if live == nil { // a nil MapFS in an fs.FS is not a nil interface
		rep, err = Check(context.Background(), fsys, nil, o)
	} else {
		rep, err = Check(context.Background(), fsys, live, o)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func refs(rep *Report, kind string) []string {
	var out []string
	for _, f := range rep.Findings {
		if kind == "" || f.Kind == kind {
			out = append(out, f.Ref)
		}
	}
	return out
}

func TestFragments(t *testing.T) {
	site := fstest.MapFS{
		"index.html": page(`<a href="#top">t</a><a href="#">h</a><a href="#here">ok</a><p id="here">
<a href="#missing">x</a>
<a href="Kernel.html#%7C%3E/2">enc</a> <a href="Kernel.html#nope">bad</a>
<a href="src/lib.rs.html#10-12">range</a> <a href="src/lib.rs.html#40-42">bad range</a>
<a href="old.html#target">via redirect</a> <a href="old.html#gone">redirect miss</a>
<img usemap="#m" src="i.png"><img usemap="#nomap" src="i.png"><map name="m"></map>
<a href="x.txt#anything">non-html</a> <a href="Kernel.html#Pipe">case</a>
<svg><use href="icons.svg#home"/><use href="icons.svg#gone"/></svg><img src="icons.svg#svgView(viewBox(0,0,10,10))">`),
		"icons.svg":       page(`<svg xmlns="http://www.w3.org/2000/svg"><symbol id="home"><image href="missing.png"/></symbol></svg>`),
		"Kernel.html":     page(`<h2 id="|&gt;/2">pipe</h2><a name="pipe"></a>`),
		"src/lib.rs.html": page(`<span id="10">10</span><span id="11">11</span>`),
		"old.html":        page(`<meta http-equiv="refresh" content="0; url=new.html">`),
		"new.html":        page(`<section id="target"></section>`),
		"i.png":           {Data: []byte("png")},
		"x.txt":           {Data: []byte("txt")},
	}
	rep := check(t, site, nil, nil)
	if a := refs(rep, KindAsset); len(a) != 1 || a[0] != "missing.png" || rep.SVGs != 1 {
		t.Errorf("asset findings %v (want the image inside icons.svg), svgs %d", a, rep.SVGs)
	}
	fr := refs(rep, KindFragment)
	slices.Sort(fr)
	got := strings.Join(fr, " ")
	want := "#missing #nomap Kernel.html#Pipe Kernel.html#nope icons.svg#gone old.html#gone src/lib.rs.html#40-42"
	if got != want {
		t.Errorf("fragment findings:\n got %s\nwant %s", got, want)
	}
	for _, f := range rep.Findings {
		if f.Ref == "#missing" && (f.Line != 2 || f.File != "index.html" || f.Target != "index.html") {
			t.Errorf("finding %+v: want index.html line 2", f)
		}
	}
}

// TestFragmentTargetOutsidePages checks that a fragment into a page that is
// not among the checked pages is still verified (its ids are parsed).
func TestFragmentTargetOutsidePages(t *testing.T) {
	site := fstest.MapFS{
		"a.html":     page(`<a href="b.html#yes">1</a><a href="b.html#no">2</a><a href="r.html#deep">3</a>`),
		"b.html":     page(`<p id="yes"><a href="missing.html">not checked</a>`),
		"r.html":     page(`<base href="sub/"><meta http-equiv="refresh" content="0;url=t.html">`),
		"sub/t.html": page(`<h1 id="deep">`),
	}
	rep := check(t, site, nil, func(o *Options) { o.Pages = []string{"a.html"}; o.Required = nil })
	if got := strings.Join(refs(rep, ""), " "); got != "b.html#no" {
		t.Errorf("findings %q, want b.html#no only", got)
	}
}

func TestReferenceKinds(t *testing.T) {
	site := fstest.MapFS{
		"index.html": page(`<!doctype html><link rel="stylesheet" href="css/site.css">
<style>body{background:url("img/bg.png")}</style>
<img srcset="img/a.png 1x, img/b.png 2x" src="img/a.png" alt="">
<div style="background-image:url(img/c.png)"></div>
<meta http-equiv="refresh" content="5; URL='later.html'">
<iframe srcdoc="<img src=&quot;img/d.png&quot;><a href=&quot;#in-srcdoc&quot;>x</a>"></iframe>
<blockquote cite="sources/q.html">q</blockquote>
<img alt="no src">
<a href="Page.HTML">case</a>
<a href="ignored.html" data-proofer-ignore>ignored</a>
<a href="https://example.org/">external</a> <a href="mailto:a@b.c">mail</a>`),
		"css/site.css": page("@import \"base.css\"; .x{background:url(../img/missing.png)}\n/*# sourceMappingURL=site.css.map */"),
		"js/app.js":    page("var x = 1;\n//# sourceMappingURL=app.js.map\n"),
		"js/ok.js":     page("var y = 1;\n//# sourceMappingURL=ok.js.map\n"),
		"js/ok.js.map": page("{}"),
		"css/base.css": page(`.y{}`),
		"img/a.png":    {Data: []byte("a")},
		"page.html":    page(`x`),
	}
	rep := check(t, site, nil, nil)
	want := map[string]string{
		"img/bg.png": KindAsset, "img/b.png": KindAsset, "img/c.png": KindAsset, "img/d.png": KindAsset,
		"later.html": KindLink, "sources/q.html": KindLink, "<img>": KindAsset, "Page.HTML": KindLink,
		"../img/missing.png": KindAsset, "site.css.map": KindSourceMap, "app.js.map": KindSourceMap,
	}
	got := map[string]string{}
	for _, f := range rep.Findings {
		got[f.Ref] = f.Kind
	}
	for ref, kind := range want {
		if got[ref] != kind {
			t.Errorf("ref %q: kind %q, want %q", ref, got[ref], kind)
		}
	}
	for ref := range got {
		if _, ok := want[ref]; !ok {
			t.Errorf("unexpected finding for %q", ref)
		}
	}
	if rep.External != 1 || rep.Other != 1 || rep.Ignored != 1 || rep.Styles != 2 || rep.Pages != 2 || rep.Scripts != 2 {
		t.Errorf("counts: external %d other %d ignored %d styles %d pages %d; want 1 1 1 2 2", rep.External, rep.Other, rep.Ignored, rep.Styles, rep.Pages)
	}
	for _, f := range rep.Findings {
		if f.Ref == "Page.HTML" && !strings.Contains(f.Reason, "wrong case: the tree has page.html") {
			t.Errorf("wrong-case reason: %q", f.Reason)
		}
	}
}

func TestIgnoreRules(t *testing.T) {
	site := fstest.MapFS{
		"index.html":        page(`<a href="gone/x.html">1</a><a href="/legacy/y.html">2</a><a href="z.html" class="btn data-proofer-ignore">3</a><a href="w.html">4</a>`),
		"drafts/draft.html": page(`<a href="nowhere.html">draft</a>`),
	}
	rep := check(t, site, nil, func(o *Options) {
		o.IgnoreFiles = []string{"drafts/**"}
		o.IgnoreURLs = []string{"gone/**", "/legacy/*"}
	})
	if got := strings.Join(refs(rep, ""), " "); got != "w.html" {
		t.Errorf("findings %q, want w.html only", got)
	}
	if rep.Ignored != 3 {
		t.Errorf("ignored %d, want 3", rep.Ignored)
	}
	if _, err := Check(context.Background(), site, nil, Options{IgnoreURLs: []string{"[bad"}}); err == nil || !strings.Contains(err.Error(), "[bad") {
		t.Errorf("bad glob: err %v, want one naming the glob", err)
	}
	if _, err := Check(context.Background(), site, nil, Options{Policy: map[string]Policy{KindLink: "sometimes"}}); err == nil || !strings.Contains(err.Error(), "link") {
		t.Errorf("bad policy: err %v, want one naming the kind", err)
	}
}

func TestRegressionGating(t *testing.T) {
	live := fstest.MapFS{
		"index.html": page(`<a href="old-broken.html">x</a><a href="#nofrag">y</a>`),
		"about.html": page(`fine`),
	}
	cur := fstest.MapFS{
		"index.html": page(`<p>moved</p><a href="old-broken.html">x</a><a href="#nofrag">y</a><a href="new-broken.html">z</a>`),
		"about.html": page(`<img src="missing.png">`),
	}
	rep := check(t, cur, live, nil)
	news := map[string]bool{}
	for _, f := range rep.Findings {
		news[f.Ref] = f.New
	}
	want := map[string]bool{"old-broken.html": false, "#nofrag": false, "new-broken.html": true, "missing.png": true}
	for ref, n := range want {
		if v, ok := news[ref]; !ok || v != n {
			t.Errorf("%s: new=%v (present %v), want new=%v", ref, v, ok, n)
		}
	}
	if !rep.Rejected() || rep.Blocking != 2 {
		t.Errorf("policy new: rejected %v blocking %d, want true 2", rep.Rejected(), rep.Blocking)
	}
	// Only existing damage: passes under "new", fails under "all".
	cur2 := fstest.MapFS{"index.html": live["index.html"], "about.html": live["about.html"]}
	if rep := check(t, cur2, live, nil); rep.Rejected() || len(rep.Findings) != 2 {
		t.Errorf("unchanged site: rejected %v with %d findings, want passed with 2", rep.Rejected(), len(rep.Findings))
	}
	if rep := check(t, cur2, live, func(o *Options) { o.DefaultPolicy = PolicyAll }); !rep.Rejected() {
		t.Error("policy all: existing findings did not block")
	}
	rep = check(t, cur, live, func(o *Options) { o.Policy = map[string]Policy{KindLink: PolicyOff, KindAsset: PolicyAll} })
	if got := strings.Join(refs(rep, ""), " "); got != "missing.png #nofrag" {
		t.Errorf("link off: findings %q", got)
	}
	if rep.Counts[KindFragment].Blocking != 0 || rep.Counts[KindAsset].Blocking != 1 {
		t.Errorf("counts %+v", rep.Counts)
	}
}

// TestRegressionHashedNames: a broken url() in a stylesheet that content
// hashing renamed is the same finding as in live.
func TestRegressionHashedNames(t *testing.T) {
	live := fstest.MapFS{
		"index.html":        page(`<link rel="stylesheet" href="css/site.1111.css">`),
		"css/site.1111.css": page(`a{background:url(gone.png)}`),
	}
	cur := fstest.MapFS{
		"index.html":        page(`<link rel="stylesheet" href="css/site.2222.css">`),
		"css/site.2222.css": page(`a{background:url(gone.png)} b{background:url(new-gone.png)}`),
	}
	rep := check(t, cur, live, func(o *Options) {
		o.Logical = map[string]string{"css/site.2222.css": "css/site.css"}
		o.LiveLogical = map[string]string{"css/site.1111.css": "css/site.css"}
	})
	news := map[string]bool{}
	for _, f := range rep.Findings {
		news[f.Ref] = f.New
	}
	if len(news) != 2 || news["gone.png"] || !news["new-gone.png"] {
		t.Errorf("findings new: %v, want gone.png existing and new-gone.png new", news)
	}
}

func TestRequired(t *testing.T) {
	site := fstest.MapFS{"index.html": page(`x`)}
	rep := check(t, site, nil, func(o *Options) { o.Required = []string{"index.html", "404.html"} })
	if got := strings.Join(refs(rep, KindRequired), " "); got != "404.html" || !rep.Rejected() {
		t.Errorf("required findings %q rejected %v, want 404.html and rejected", got, rep.Rejected())
	}
	rep = check(t, site, site, func(o *Options) { o.Required = []string{"404.html"} })
	if rep.Rejected() || rep.Findings[0].New {
		t.Errorf("404.html missing in live too: rejected %v new %v, want existing and passing", rep.Rejected(), rep.Findings[0].New)
	}
}

func blob(n int, seed byte) *fstest.MapFile {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return &fstest.MapFile{Data: b}
}

func TestSizeBudgets(t *testing.T) {
	live := fstest.MapFS{
		"index.html":         page(`<script src="assets/app.1111.js"></script>`),
		"assets/app.1111.js": blob(1000, 1),
		"assets/old.css":     blob(300, 2),
	}
	cur := fstest.MapFS{
		"index.html":         page(`<script src="assets/app.2222.js"></script>`),
		"assets/app.2222.js": blob(1500, 3),
		"assets/new.css":     &fstest.MapFile{Data: bytes.Repeat([]byte("a{color:red}\n"), 400)},
	}
	set := func(o *Options) {
		o.Logical = HashedToLogical(map[string]string{"assets/app.js": "assets/app.2222.js"})
		o.LiveLogical = map[string]string{"assets/app.1111.js": "assets/app.js"}
		o.Budgets = []Budget{
			{Glob: "assets/*.js", MaxGrowth: 0.2, PerFile: true},
			{Glob: "assets/*.css", MaxBytes: 4000, MaxGzip: 200},
		}
		o.MaxTotalBytes = 5000
	}
	cur["assets/app.js"] = cur["assets/app.2222.js"] // hashassets keeps the original name too
	rep := check(t, cur, live, set)
	var reasons []string
	for _, f := range rep.Findings {
		if f.Kind == KindSize {
			reasons = append(reasons, f.Target+": "+f.Reason)
		}
	}
	got := strings.Join(reasons, "\n")
	for _, w := range []string{"assets/app.js: grew 50% from 1000 B to 1500 B (limit 20%)", "size 5200 B exceeds the budget 4000 B", "total size"} {
		if !strings.Contains(got, w) {
			t.Errorf("size findings lack %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "gzip size") {
		t.Errorf("repetitive CSS compresses below 200 bytes, but:\n%s", got)
	}
	s := rep.Size
	if s.Added != 1 || s.Removed != 1 || s.Changed != 1 || len(s.Movers) != 3 || s.Movers[0].Path != "assets/new.css" {
		t.Errorf("size report %+v", s)
	}
	if len(s.Budgets) != 2 || s.Budgets[1].Gzip == 0 || s.Budgets[1].Gzip >= 200 {
		t.Errorf("budgets %+v", s.Budgets)
	}
	// With manifests: carried files do not count; sizes come from them.
	m := &manifest.Manifest{Entries: []manifest.Entry{
		{Path: "assets/app.2222.js", Size: 1100, SHA256: "b"},
		{Path: "assets/app.1111.js", Size: 1000, SHA256: "a", Carried: true},
		{Path: "index.html", Size: 40, SHA256: "c"},
	}}
	rep = check(t, cur, live, func(o *Options) { set(o); o.Manifest = m; o.Budgets = o.Budgets[:1]; o.MaxTotalBytes = 0 })
	if rep.Size.Files != 2 || rep.Size.Bytes != 1140 || len(refs(rep, KindSize)) != 0 {
		t.Errorf("with manifest: files %d bytes %d size findings %v", rep.Size.Files, rep.Size.Bytes, refs(rep, KindSize))
	}
}

func TestShrinkGuard(t *testing.T) {
	live := fstest.MapFS{}
	for _, p := range []string{"index.html", "a.html", "b.html", "c.html", "d.html"} {
		live[p] = page(strings.Repeat("x", 100))
	}
	cur := fstest.MapFS{"index.html": page("x")}
	rep := check(t, cur, live, nil)
	if got := strings.Join(refs(rep, KindShrink), " "); got != "bytes pages" || !rep.Rejected() {
		t.Errorf("shrink findings %q rejected %v", got, rep.Rejected())
	}
	if rep := check(t, cur, live, func(o *Options) { o.ShrinkLimit = 0.999 }); len(refs(rep, KindShrink)) != 0 {
		t.Errorf("limit 99.9%%: %v", refs(rep, KindShrink))
	}
}

func TestReportGolden(t *testing.T) {
	live := fstest.MapFS{"index.html": page("<a href=\"old.html\">o</a>\n")}
	var items []string
	for i := range 23 {
		items = append(items, `<img src="img/`+string(rune('a'+i))+`.png">`)
	}
	cur := fstest.MapFS{
		"index.html":  page("<a href=\"old.html\">o</a>\n<a href=\"new.html#x\">n</a>\n" + strings.Join(items, "\n")),
		"docs/a.html": page(`<a href="../index.html#nowhere">f</a>`),
	}
	rep := check(t, cur, live, func(o *Options) { o.Required = []string{"index.html", "404.html"} })
	var txt bytes.Buffer
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", txt.Bytes())
	golden(t, "report.json", append(js, '\n'))
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil || back["schema"] != float64(Schema) {
		t.Errorf("json schema: %v %v", back["schema"], err)
	}
	f := back["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"file", "line", "ref", "kind", "target", "new"} {
		if _, ok := f[k]; !ok {
			t.Errorf("finding lacks %q: %v", k, f)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run %s -update):\n--- got\n%s\n--- want\n%s", p, t.Name(), got, want)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Check(ctx, fstest.MapFS{"a.html": page("x")}, nil, DefaultOptions()); err == nil {
		t.Error("Check with a cancelled context: no error")
	}
}

package validate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/example/release-agent/hashassets"
	"github.com/example/release-agent/htmlrefs"
)

func mapFS(files ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for _, f := range files {
		m[f] = &fstest.MapFile{Data: []byte("<p>x</p>")}
	}
	return m
}

func testResolver(t *testing.T, fsys fstest.MapFS, set func(*resolver)) *resolver {
	t.Helper()
	tr, err := buildTree(fsys)
	if err != nil {
		t.Fatal(err)
	}
	r := &resolver{t: tr, indexNames: []string{"index.html"}, site: htmlrefs.NewSite("/"), dirNoSlash: true}
	if set != nil {
		set(r)
	}
	return r
}

func TestResolve(t *testing.T) {
	fsys := mapFS("index.html", "a/b.html", "a/index.html", "Docs/Guide.html", "about.html",
		"dir with space/x.html", "erstiebegrüßung.html", "noindex/x.css", "CHANGES.txt.gz", "a/c.html")
	type want struct {
		out    outcome
		target string
		reason string // substring
	}
	cases := []struct {
		name, page, ref string
		set             func(*resolver)
		want            want
	}{
		{"relative", "a/b.html", "c.html", nil, want{resOK, "a/c.html", ""}},
		{"parent", "a/b.html", "../about.html", nil, want{resOK, "about.html", ""}},
		{"root-absolute", "a/b.html", "/about.html", nil, want{resOK, "about.html", ""}},
		{"dir slash", "index.html", "a/", nil, want{resOK, "a/index.html", ""}},
		{"root slash", "a/b.html", "/", nil, want{resOK, "index.html", ""}},
		{"dir no slash accepted", "index.html", "a", nil, want{resOK, "a/index.html", ""}},
		{"dir no slash refused", "index.html", "a", func(r *resolver) { r.dirNoSlash = false }, want{resMissing, "a", "trailing slash"}},
		{"dir without index", "index.html", "noindex/", nil, want{resMissing, "noindex/", "no index"}},
		{"custom index", "index.html", "noindex/", func(r *resolver) { r.indexNames = []string{"index.html", "x.css"} }, want{resOK, "noindex/x.css", ""}},
		{"query and fragment", "index.html", "a/?x=1#top", nil, want{resOK, "a/index.html", ""}},
		{"percent-decoded", "index.html", "dir%20with%20space/x.html", nil, want{resOK, "dir with space/x.html", ""}},
		{"utf-8 encoded", "index.html", "erstiebegr%C3%BC%C3%9Fung.html", nil, want{resOK, "erstiebegrüßung.html", ""}},
		{"wrong case", "index.html", "docs/guide.html", nil, want{resMissing, "docs/guide.html", "wrong case: the tree has Docs/Guide.html"}},
		{"gzipped only", "index.html", "CHANGES.txt", nil, want{resMissing, "CHANGES.txt", "CHANGES.txt.gz"}},
		{"email without mailto", "index.html", "list@example.org", nil, want{resMissing, "list@example.org", "mailto"}},
		{"missing", "index.html", "nope.html", nil, want{resMissing, "nope.html", "does not exist"}},
		{"file is not a dir", "index.html", "about.html/", nil, want{resMissing, "about.html", "ends in a slash"}},
		// ".." above the root stops there, as in browsers (htmlrefs'
		// rule, which hashassets follows too).
		{"leaves tree", "a/b.html", "../../x.html", nil, want{resMissing, "x.html", "leaves the tree"}},
		{"clamped at root", "a/b.html", "../../about.html", nil, want{resOK, "about.html", ""}},
		{"leaves base path", "a/b.html", "../../x.html", func(r *resolver) { r.site = htmlrefs.NewSite("/docs/") }, want{resOutside, "", "base path /docs/"}},
		{"root backslashes", "a/b.html", `\a\c.html`, nil, want{resOK, "a/c.html", ""}},
		{"protocol-relative backslashes", "index.html", `\\cdn.example.org\x.js`, nil, want{resExternal, "", ""}},
		{"C0 controls", "index.html", "\x01about.html\x1f", nil, want{resOK, "about.html", ""}},
		{"C0 only", "index.html", "\x01\x02", nil, want{resEmpty, "", "empty"}},
		{"uppercase scheme", "index.html", "MAILTO:x@example.org", nil, want{resOther, "", ""}},
		{"windows path", "index.html", `C:\site\about.html`, nil, want{resOutside, "", "Windows path (C:)"}},
		{"encoded slash", "index.html", "a%2Fc.html", nil, want{resOK, "a/c.html", ""}},
		{"query only", "a/b.html", "?q", nil, want{resOK, "a/b.html", ""}},
		{"pretty off", "index.html", "/about", nil, want{resMissing, "about", ""}},
		{"pretty on", "index.html", "/about", func(r *resolver) { r.pretty = true }, want{resOK, "about.html", ""}},
		{"base path", "a/b.html", "/docs/about.html", func(r *resolver) { r.site = htmlrefs.NewSite("/docs/") }, want{resOK, "about.html", ""}},
		{"base path root", "a/b.html", "/docs", func(r *resolver) { r.site = htmlrefs.NewSite("/docs/") }, want{resOK, "index.html", ""}},
		{"base path without slashes", "a/b.html", "/docs/about.html", func(r *resolver) { r.site = htmlrefs.NewSite("docs") }, want{resOK, "about.html", ""}},
		{"outside base path", "a/b.html", "/about.html", func(r *resolver) { r.site = htmlrefs.NewSite("/docs/") }, want{resOutside, "", "base path /docs/"}},
		{"external", "index.html", "https://example.org/x", nil, want{resExternal, "", ""}},
		{"protocol-relative", "index.html", "//cdn.example.org/x.js", nil, want{resExternal, "", ""}},
		{"site url is local", "index.html", "https://Example.com/docs/a/c.html", func(r *resolver) { r.site = htmlrefs.NewSite("/docs/", "https://example.com/docs/") }, want{resOK, "a/c.html", ""}},
		{"site url other path", "index.html", "https://example.com/blog/x.html", func(r *resolver) { r.site = htmlrefs.NewSite("/docs/", "https://example.com/docs/") }, want{resExternal, "", ""}},
		{"site url longer host", "index.html", "https://example.com.evil/docs/x.html", func(r *resolver) { r.site = htmlrefs.NewSite("/", "https://example.com/docs/") }, want{resExternal, "", ""}},
		{"mailto", "index.html", "mailto:x@example.org", nil, want{resOther, "", ""}},
		{"javascript", "index.html", "javascript:void(0)", nil, want{resOther, "", ""}},
		{"data", "index.html", "data:image/png;base64,AAAA", nil, want{resOther, "", ""}},
		{"file url", "index.html", "file:///usr/share/doc/x.html", nil, want{resOutside, "", "file:"}},
		{"blank", "index.html", "   ", nil, want{resEmpty, "", "empty"}},
		{"same page fragment", "a/b.html", "#x", nil, want{resOK, "a/b.html", ""}},
		{"backslash", "index.html", `a\b.html`, nil, want{resOK, "a/b.html", ""}},
		{"newline inside", "index.html", "a/b.\nhtml", nil, want{resOK, "a/b.html", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := testResolver(t, fsys, c.set)
			b := r.base(c.page, "")
			got := r.resolve(&b, c.ref)
			if got.out != c.want.out || got.target != c.want.target || !strings.Contains(got.reason, c.want.reason) {
				t.Errorf("resolve(%q from %s) = {out %d, target %q, reason %q}, want {out %d, target %q, reason containing %q}",
					c.ref, c.page, got.out, got.target, got.reason, c.want.out, c.want.target, c.want.reason)
			}
		})
	}
}

func TestBaseHref(t *testing.T) {
	fsys := mapFS("index.html", "folder/anchorLink.html", "x.html")
	r := testResolver(t, fsys, func(r *resolver) { r.site = htmlrefs.NewSite("/", "https://example.com/") })
	for _, c := range []struct {
		base, ref string
		out       outcome
		target    string
	}{
		{"folder/", "anchorLink.html", resOK, "folder/anchorLink.html"},
		{"folder/", "../x.html", resOK, "x.html"},
		{"folder/", "/x.html", resOK, "x.html"},
		{"/folder/index.html", "anchorLink.html", resOK, "folder/anchorLink.html"},
		{"https://example.com/folder/", "anchorLink.html", resOK, "folder/anchorLink.html"},
		{"https://other.example/", "anchorLink.html", resExternal, ""},
		{"folder/", "#x", resMissing, "folder/"}, // the base document is a directory without index
	} {
		b := r.base("index.html", c.base)
		got := r.resolve(&b, c.ref)
		if got.out != c.out || got.target != c.target {
			t.Errorf("base %q ref %q: out %d target %q (%s), want out %d target %q", c.base, c.ref, got.out, got.target, got.reason, c.out, c.target)
		}
	}
}

func TestFragmentHelpers(t *testing.T) {
	if d, err := unescapeFragment("%7C%3E/2"); err != nil || d != "|>/2" {
		t.Errorf("unescapeFragment = %q, %v", d, err)
	}
	if _, err := unescapeFragment("%zz"); err == nil {
		t.Error("unescapeFragment(%zz): no error")
	}
	for f, want := range map[string]string{"12-20": "12", "1-2": "1", "-2": "", "12-": "", "a-2": "", "12": ""} {
		got, ok := lineRange(f)
		if got != want || ok != (want != "") {
			t.Errorf("lineRange(%q) = %q, %v; want %q", f, got, ok, want)
		}
	}
}

// TestSymlinks: a symlinked directory is descended as the web server
// follows it; a dangling symlink is not a target.
func TestSymlinks(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "real"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "real", "x.html"), []byte(`<p id="here">`), 0o644))
	must(os.Symlink("real", filepath.Join(dir, "linked")))
	must(os.Symlink("nowhere.html", filepath.Join(dir, "gone.html")))
	must(os.Symlink(".", filepath.Join(dir, "real", "loop"))) // a loop: not descended
	must(os.Symlink("..", filepath.Join(dir, "real", "up")))  // a loop through the parent
	must(os.Symlink("../real", filepath.Join(dir, "real", "again")))
	must(os.WriteFile(filepath.Join(dir, "index.html"), []byte(`<a href="linked/x.html#here">1</a><a href="gone.html">2</a>`), 0o644))
	rep, err := Check(context.Background(), os.DirFS(dir), nil, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Ref != "gone.html" {
		t.Errorf("findings %+v, want only gone.html", rep.Findings)
	}
	// index.html, real/x.html, linked/x.html, and linked/again/... down to
	// the depth bound: loops end.
	if rep.Pages < 3 || rep.Pages > 3+maxLinkDepth {
		t.Errorf("pages %d, want 3 to %d", rep.Pages, 3+maxLinkDepth)
	}
}

// sharedPage is hashassets' sharedPage (hashassets/resolve_test.go): the
// same references, which htmlrefs resolves for both packages.
const sharedPage = "<link rel=stylesheet href=\"../../style.css\">\n" +
	"<link rel=stylesheet href=\"\\css\\x.css\">\n" +
	"<link rel=stylesheet href=\"../css/x\t.css\">\n" +
	"<link rel=stylesheet href=\"%2e%2e/css/x.css?v=1\">\n"

// TestResolverShared: validate accepts every reference of sharedPage, which
// name style.css and css/x.css by htmlrefs' rules, before hashing and
// after hashassets rewrote them to the hashed names.
func TestResolverShared(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"a/index.html": sharedPage, "style.css": "body{}", "css/x.css": "p{}", "index.html": "<p>"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsys := mapFS("index.html", "style.css", "css/x.css")
	r := testResolver(t, fsys, nil)
	b := r.base("a/index.html", "")
	want := []string{"style.css", "css/x.css", "css/x.css", "css/x.css"}
	var n int
	htmlrefs.ScanHTML([]byte(sharedPage), htmlrefs.Options{}, htmlrefs.Funcs{OnRef: func(ref htmlrefs.Ref) {
		if res := r.resolve(&b, ref.Value); res.out != resOK || n >= len(want) || res.target != want[n] {
			t.Errorf("ref %d %q: out %d target %q (%s), want OK %q", n, ref.Value, res.out, res.target, res.reason, want[min(n, len(want)-1)])
		}
		n++
	}})
	if n != len(want) {
		t.Fatalf("%d refs, want %d", n, len(want))
	}
	check := func(when string) {
		rep, err := Check(context.Background(), os.DirFS(dir), nil, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Findings) != 0 || rep.Refs != len(want) {
			t.Errorf("%s: %d refs (want %d), findings %+v", when, rep.Refs, len(want), rep.Findings)
		}
	}
	check("before hashing")
	man, err := hashassets.HashDir(context.Background(), dir, hashassets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "style.css")); err != nil { // only the hashed name may serve it now
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "css", "x.css")); err != nil {
		t.Fatal(err)
	}
	if len(man.Assets) != 2 {
		t.Fatalf("hashed %+v", man.Assets)
	}
	check("after hashing")
}

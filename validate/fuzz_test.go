package validate

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/example/release-agent/htmlrefs"
)

// FuzzResolve: resolving any reference from any page never panics, an OK
// result is a file of the tree, and no target leaves the tree.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"a/b.html", "../x", "/docs/a/", "%zz", "dir%20with%20space/", "https://example.com/docs/a?x#y",
		"//h/p", "#%7C%3E", "a/./../../b", "mailto:x", "Docs/GUIDE.html", "x@y.z", " \t", "?q", "a/b.html/"} {
		f.Add("a/index.html", s, false)
		f.Add("index.html", s, true)
	}
	fsys := mapFS("index.html", "a/index.html", "a/b.html", "Docs/Guide.html", "dir with space/index.html", "x.gz")
	f.Fuzz(func(t *testing.T, page, ref string, pretty bool) {
		tr, err := buildTree(fsys)
		if err != nil {
			t.Fatal(err)
		}
		r := &resolver{t: tr, indexNames: []string{"index.html"}, pretty: pretty,
			site: htmlrefs.NewSite("/docs/", "https://example.com/docs/")}
		if !strings.HasSuffix(page, ".html") || strings.HasPrefix(page, "/") || strings.Contains(page, "..") {
			page = "a/index.html"
		}
		b := r.base(page, ref)
		res := r.resolve(&b, ref)
		if res.out == resOK && !tr.isFile(res.target) {
			t.Errorf("resolve(%q) = OK %q, not a file of the tree", ref, res.target)
		}
		if strings.HasPrefix(res.target, "../") || res.target == ".." || strings.HasPrefix(res.target, "/") && res.target != "/" {
			t.Errorf("resolve(%q): target %q leaves the tree", ref, res.target)
		}
		if (res.out == resMissing || res.out == resOutside || res.out == resEmpty) && res.reason == "" {
			t.Errorf("resolve(%q): outcome %d without a reason", ref, res.out)
		}
	})
}

// FuzzCheckPage: any page checks without panicking, and every finding
// names the page and a line inside it.
func FuzzCheckPage(f *testing.F) {
	for _, s := range []string{
		`<a href="x.html#y">`, `<img srcset="a.png 1x, b.png 2x">`, `<img alt=x>`, `<blockquote cite="q.html">`,
		`<meta http-equiv=refresh content="0;url=z.html">`, `<base href="sub/"><a href=a.html>`, `<IMG`, `<q cite`,
		`<style>@import "m.css"; a{background:url(x.png)}</style>`, `<iframe srcdoc="<a href=&quot;#a&quot;>">`,
		"<a href='#x' data-proofer-ignore>", "<p id=x><a href=#x>", "\x00<img\x00src=\"\">",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{"p/index.html": {Data: src}, "p/x.html": {Data: []byte("<p id=y>")}}
		o := DefaultOptions()
		o.Required = nil
		rep, err := Check(context.Background(), fsys, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Count(src, []byte{'\n'}) + 1
		for _, fd := range rep.Findings {
			if fd.File != "p/index.html" && fd.File != "p/x.html" {
				t.Errorf("finding in %q", fd.File)
			}
			if fd.File == "p/index.html" && (fd.Line < 1 || fd.Line > lines) {
				t.Errorf("finding %+v: line outside 1..%d", fd, lines)
			}
		}
	})
}

// FuzzIndexFold compares indexFold with a plain ASCII case-folding search.
func FuzzIndexFold(f *testing.F) {
	f.Add("abc<IMG src", "<img")
	f.Add("ddddata-x", "data-x")
	f.Add("CCite", "cite")
	f.Fuzz(func(t *testing.T, hay, needle string) {
		needle = asciiLower(needle)
		if needle == "" {
			return
		}
		want := strings.Index(asciiLower(hay), needle)
		if got := indexFold([]byte(hay), []byte(needle)); got != want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", hay, needle, got, want)
		}
	})
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzFragment: decoding never panics and round-trips plain fragments.
func FuzzFragment(f *testing.F) {
	for _, s := range []string{"%7C%3E/2", "10-20", "%", "%e2%9c%93", "top", "-", "1-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := unescapeFragment(s)
		if err == nil && !strings.Contains(s, "%") && d != s {
			t.Errorf("unescapeFragment(%q) = %q", s, d)
		}
		if n, ok := lineRange(s); ok && (n == "" || !strings.HasPrefix(s, n+"-")) {
			t.Errorf("lineRange(%q) = %q", s, n)
		}
	})
}

package htmlrefs

import (
	"testing"
)

func scanCSS(t testing.TB, src string) []Ref {
	t.Helper()
	var refs []Ref
	ScanCSS([]byte(src), 0, 1, func(r Ref) { refs = append(refs, r) })
	checkOffsets(t, []byte(src), refs)
	return refs
}

func TestScanCSS(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"url forms", `a{background:url(a.png)} b{background:url( "b c.png" )} c{background:URL(  'd.png'  )} d{x:url(  e.png  )}`,
			[]string{".url() resource a.png", ".url() resource b c.png", ".url() resource d.png", ".url() resource e.png"}},
		{"comments and strings are not refs", `/* url(no.png) @import "no.css"; */ a{content:"url(no2.png)"; b: 'x' } c{background:url(yes.png)}`,
			[]string{".url() resource yes.png"}},
		{"import", `@import "a.css"; @import url(b.css) screen; @IMPORT 'c.css' print; @import /* c */ "d.css";`,
			[]string{".@import resource a.css", ".@import resource b.css", ".@import resource c.css", ".@import resource d.css"}},
		{"image-set and src", `a{background-image:image-set("a.png" 1x, url(b.png) 2x); b:-webkit-image-set('c.png' 1x); c{src:src("f.woff")}}`,
			[]string{".image-set() resource a.png", ".url() resource b.png", ".image-set() resource c.png", ".src() resource f.woff"}},
		{"font-face", `@font-face{font-family:x;src:url(f.eot?#iefix) format("embedded-opentype"),url("f.woff2") format("woff2")}`,
			[]string{".url() resource f.eot?#iefix", ".url() resource f.woff2"}},
		{"escapes", `a{background:url(a\(1\).png)} b{background:url("q\"uote.png")} c{background:url(\61 .png)}`,
			[]string{`.url() resource a(1).png raw=a\(1\).png`, `.url() resource q"uote.png raw=q\"uote.png`, `.url() resource a.png raw=\61 .png`}},
		{"escaped function name", `a{b:u\72l(x.png)}`, []string{".url() resource x.png"}},
		{"bad url is not a ref", `a{b:url(a b.png)} c{d:url(ok.png)}`, []string{".url() resource ok.png"}},
		{"not url functions", `a{b:my-url(x.png); c:urlx(y.png); d: 10url(z.png)}`, nil},
		{"fragment and query", `a{filter:url(#f); b:url(x.svg?v=1#id)}`, []string{".url() resource #f", ".url() resource x.svg?v=1#id"}},
		{"sourcemap", "a{}\n/*# sourceMappingURL=a.css.map */", []string{".sourceMappingURL sourcemap a.css.map"}},
		{"unterminated", `a{b:url(x.png`, []string{".url() resource x.png"}},
		{"unterminated string", "a{b:url(\"x.png\n}", []string{".url() resource x.png"}},
		{"custom property", `:root{--bg:url(bg.png)}`, []string{".url() resource bg.png"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eq(t, c.name, brief(scanCSS(t, c.src)), c.want)
		})
	}
}

func TestScanCSSOffset(t *testing.T) {
	var refs []Ref
	src := []byte("xxxx\na{b:url(c.png)}")
	ScanCSS(src[5:], 5, 2, func(r Ref) { refs = append(refs, r) })
	if len(refs) != 1 || refs[0].Start != 13 || string(src[refs[0].Start:refs[0].End]) != "c.png" || refs[0].Line != 2 {
		t.Fatalf("refs = %+v", refs)
	}
}

func TestScanSourceMap(t *testing.T) {
	cases := map[string]string{
		"a();\n//# sourceMappingURL=a.js.map\n":                          "a.js.map",
		"a();\n//@ sourceMappingURL=old.map":                             "old.map",
		"x = '//# sourceMappingURL=no.map';\n//# sourceMappingURL=y.map": "y.map",
		"x = '//# sourceMappingURL=no.map';":                             "",
		"//# sourceMappingURL=data:application/json;base64,e30=":         "data:application/json;base64,e30=",
	}
	for src, want := range cases {
		var got []Ref
		ScanSourceMap([]byte(src), func(r Ref) { got = append(got, r) })
		checkOffsets(t, []byte(src), got)
		g := ""
		if len(got) > 0 {
			g = got[0].Value
		}
		if g != want || len(got) > 1 {
			t.Errorf("%q: got %v, want %q", src, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	cases := []struct{ doc, base, ref, want string }{
		{"a/b.html", "", "c.png", "local a/c.png"},
		{"a/b.html", "", "../c.png", "local c.png"},
		{"a/b.html", "", "../../../c.png", "local c.png"},
		{"a/b.html", "", "/x/y.css?v=1#f", "local x/y.css ?v=1 #f"},
		{"a/b.html", "", "//cdn.example/x.js", "external"},
		{"a/b.html", "", "https://x/y", "external"},
		{"a/b.html", "", "data:image/png;base64,AAA", "external"},
		{"a/b.html", "", "mailto:a@b", "external"},
		{"a/b.html", "", "#frag", "same a/b.html #frag"},
		{"a/b.html", "", "", "same a/b.html"},
		{"a/b.html", "", "?q=1", "local a/b.html ?q=1"},
		{"a/b.html", "", "d/", "local a/d dir"},
		{"a/b.html", "", "..", "local  dir"},
		{"a/b.html", "", "my%20file.png", "local a/my file.png"},
		{"a/b.html", "", "x\\y.png", "local a/x/y.png"},
		{"a/b.html", "/docs/", "c.png", "local docs/c.png"},
		{"a/b.html", "../", "c.png", "local c.png"},
		{"a/b.html", "/docs/", "#f", "local docs #f dir"},
		{"a/b.html", "https://example.com/", "c.png", "external"},
		{"a/b.html", "", " c.png\n", "local a/c.png"},
		{"a/b.html", "", "\\\\host/x", "external"},
	}
	for _, c := range cases {
		tg := Resolve(c.doc, c.base, c.ref)
		var got string
		switch tg.Class {
		case External:
			got = "external"
		case SameDocument:
			got = "same " + tg.Path
		case Local:
			got = "local " + tg.Path
		}
		if tg.Class != External {
			if tg.Query != "" {
				got += " " + tg.Query
			}
			if tg.Fragment != "" {
				got += " " + tg.Fragment
			}
			if tg.Dir {
				got += " dir"
			}
		}
		if got != c.want {
			t.Errorf("Resolve(%q, %q, %q) = %q, want %q", c.doc, c.base, c.ref, got, c.want)
		}
	}
}

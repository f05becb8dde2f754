package htmlrefs

import (
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/Fuzz*; `go test` runs them.

func FuzzScanHTML(f *testing.F) {
	for _, s := range []string{
		`<img srcset="a.png 1x, b.png 2x" src=a.png style="background:url('x.png')">`,
		`<meta http-equiv=refresh content="0;url=x.html"><iframe srcdoc="<img src=&quot;a.png&quot;>">`,
		`<noscript><img src=a.png></noscript><style>@import "a.css";</style>`,
		`<a href="&amp;&#x41;&notit;x">`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var refs []Ref
		err := ScanHTML(src, Options{DataAttrs: []string{"data-src", "data-srcset"}}, Funcs{OnRef: func(r Ref) { refs = append(refs, r) }})
		if err != nil {
			t.Fatal(err)
		}
		checkOffsets(t, src, refs)
		checkAttrCount(t, src)
		for _, r := range refs {
			if !r.Inexact && r.Attr != "style" && !r.Srcdoc && r.Kind != Refresh && r.Attr != "srcset" && r.Attr != "imagesrcset" && r.Attr != "data-srcset" {
				// a whole-attribute reference: Value is the decoded Raw
				if want := trimWS(decodeAttr(r.Raw)); want != r.Value && !containsAny(r.Raw, "\r\x00\"") {
					t.Fatalf("ref %+v: Value %q, decoded Raw %q", r, r.Value, want)
				}
			}
		}
	})
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

func FuzzScanCSS(f *testing.F) {
	for _, s := range []string{
		`a{background:url( "a.png" )} @import 'b.css'; /* url(c.png) */`,
		`a{b:image-set("a.png" 1x, url(b.png) 2x)} c{d:url(\61 .png)}`,
		"a{b:url(x\n/*# sourceMappingURL=a.map */",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var refs []Ref
		ScanCSS(src, 0, 1, func(r Ref) { refs = append(refs, r) })
		checkOffsets(t, src, refs)
		last := -1
		for _, r := range refs {
			if r.Start < last {
				t.Fatalf("refs out of order: %+v", refs)
			}
			last = r.End
		}
		// Scanning with an offset shifts every ref by that offset.
		var shifted []Ref
		ScanCSS(src, 7, 3, func(r Ref) { shifted = append(shifted, r) })
		if len(shifted) != len(refs) {
			t.Fatalf("offset changed the number of refs")
		}
		for i := range refs {
			if shifted[i].Start != refs[i].Start+7 || shifted[i].Line != refs[i].Line+2 {
				t.Fatalf("offset not applied: %+v vs %+v", shifted[i], refs[i])
			}
		}
	})
}

// FuzzResolve checks the resolver's invariants on any document path, base
// and reference: no panic; a Local Path never starts with '/', never has an
// empty, "." or ".." segment and never holds a NUL; resolving is
// deterministic and Resolve agrees with Site.Base(...).Resolve; a literal
// FileName is the last segment of a Local file's Path.
func FuzzResolve(f *testing.F) {
	f.Add("a/index.html", "", "../../style.css")
	f.Add("index.html", "", `\css\x.css`)
	f.Fuzz(func(t *testing.T, doc, base, ref string) {
		site := NewSite("/docs/", "https://example.com/docs/")
		for _, s := range []*Site{nil, site} {
			b := s.Base(doc, base)
			got := b.Resolve(ref)
			if again := b.Resolve(ref); again != got {
				t.Fatalf("Resolve(%q) not deterministic: %+v then %+v", ref, got, again)
			}
			if s == nil {
				if fn := Resolve(doc, base, ref); fn != got {
					t.Fatalf("Resolve(%q, %q, %q) = %+v, Base.Resolve = %+v", doc, base, ref, fn, got)
				}
			}
			if got.Class != Local {
				continue
			}
			p := got.Path
			if strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
				t.Fatalf("Resolve(%q, %q, %q): Local path %q", doc, base, ref, p)
			}
			if p != "" {
				for _, seg := range strings.Split(p, "/") {
					if seg == "" || seg == "." || seg == ".." {
						t.Fatalf("Resolve(%q, %q, %q): Local path %q has segment %q", doc, base, ref, p, seg)
					}
				}
			}
			if name, lit := FileName(ref); lit && name != "" && p != "" && !got.Dir && p != name && !strings.HasSuffix(p, "/"+name) {
				t.Fatalf("Resolve(%q, %q, %q) = %q, but FileName says literal %q", doc, base, ref, p, name)
			}
		}
	})
}

package htmlrefs

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

type collected struct {
	refs    []Ref
	anchors []string
	bases   []string
}

func scan(t testing.TB, src string, opts Options) *collected {
	t.Helper()
	c := &collected{}
	err := ScanHTML([]byte(src), opts, Funcs{
		OnRef:    func(r Ref) { c.refs = append(c.refs, r) },
		OnAnchor: func(n string, line int) { c.anchors = append(c.anchors, fmt.Sprintf("%s@%d", n, line)) },
		OnBase:   func(h string, line int) { c.bases = append(c.bases, h) },
	})
	if err != nil {
		t.Fatal(err)
	}
	checkOffsets(t, []byte(src), c.refs)
	return c
}

func checkOffsets(t testing.TB, src []byte, refs []Ref) {
	t.Helper()
	for _, r := range refs {
		if r.Start < 0 || r.End > len(src) || r.Start > r.End {
			t.Fatalf("ref %+v: offsets out of range (len %d)", r, len(src))
		}
		if string(src[r.Start:r.End]) != r.Raw {
			t.Fatalf("ref %+v: Raw %q != src[Start:End] %q", r, r.Raw, src[r.Start:r.End])
		}
		if want := 1 + bytes.Count(src[:r.Start], []byte{'\n'}); r.Line != want {
			t.Fatalf("ref %+v: line %d, want %d", r, r.Line, want)
		}
	}
}

// brief renders refs as "tag.attr kind value|raw".
func brief(refs []Ref) []string {
	var out []string
	for _, r := range refs {
		s := fmt.Sprintf("%s.%s %s %s", r.Tag, r.Attr, r.Kind, r.Value)
		if r.Raw != r.Value {
			s += " raw=" + r.Raw
		}
		if r.Inexact {
			s += " inexact"
		}
		if r.Srcdoc {
			s += " srcdoc"
		}
		out = append(out, s)
	}
	return out
}

func eq(t *testing.T, name string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestScanHTML(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"plain attrs", `<a href="a.html">x</a><img src=img/x.png><script src='s.js'></script><link rel=stylesheet href="c.css"><link rel=canonical href="/x.html">`,
			[]string{"a.href navigation a.html", "img.src resource img/x.png", "script.src resource s.js", "link.href resource c.css", "link.href navigation /x.html"}},
		{"rel after href", `<link href="i.ico" rel="shortcut icon"><link href=m.webmanifest rel=manifest><link rel="modulepreload" href="m.js">`,
			[]string{"link.href resource i.ico", "link.href resource m.webmanifest", "link.href resource m.js"}},
		{"entities and whitespace", `<a href=" a.html?x=1&amp;y=2 ">`,
			[]string{"a.href navigation a.html?x=1&y=2 raw= a.html?x=1&amp;y=2 "}},
		{"legacy entity not decoded before =", `<a href="?a=1&copy=2">`,
			[]string{"a.href navigation ?a=1&copy=2"}},
		{"srcset every candidate", `<img srcset="a.png 1x, b.png 2x,c.png 3x" src=a.png>`,
			[]string{"img.srcset resource a.png", "img.srcset resource b.png", "img.srcset resource c.png", "img.src resource a.png"}},
		{"srcset widths and commas in urls", `<img srcset="a,b.png 100w, /x/c.png?w=1,2 200w,, d.png,e.png">`,
			[]string{"img.srcset resource a,b.png", "img.srcset resource /x/c.png?w=1,2", "img.srcset resource d.png,e.png"}},
		{"srcset entity", `<source srcset="a.png?x=1&amp;y=2 1x, b&#46;png 2x">`,
			[]string{"source.srcset resource a.png?x=1&y=2 raw=a.png?x=1&amp;y=2", "source.srcset resource b.png raw=b&#46;png"}},
		{"imagesrcset", `<link rel=preload as=image imagesrcset="p1.png 1x, p2.png 2x" href=p1.png>`,
			[]string{"link.imagesrcset resource p1.png", "link.imagesrcset resource p2.png", "link.href resource p1.png"}},
		{"meta refresh", `<meta http-equiv="Refresh" content="0; url=next.html"><meta http-equiv=refresh content="5;URL='q.html'"><meta content="3, x.html" http-equiv=refresh><meta http-equiv=refresh content="5"><meta name=x content="0; url=no.html">`,
			[]string{"meta.content refresh next.html", "meta.content refresh q.html", "meta.content refresh x.html"}},
		{"svg", `<svg><image href="i.png"/><use xlink:href="sprite.svg#a"></use><a xlink:href="p.html">x</a><lineargradient href="#g"/></svg>`,
			[]string{"image.href resource i.png", "use.xlink:href resource sprite.svg#a", "a.xlink:href navigation p.html", "lineargradient.href resource #g"}},
		{"media", `<video poster=p.jpg src=v.mp4><source src=v.webm><track src=t.vtt></video><audio src=a.mp3></audio><object data=o.svg usemap="#m"></object><embed src=e.swf><input type=image src=b.png formaction=f.html><form action=/post></form><iframe src=f.html></iframe><body background=bg.png>`,
			[]string{"video.poster resource p.jpg", "video.src resource v.mp4", "source.src resource v.webm", "track.src resource t.vtt", "audio.src resource a.mp3", "object.data resource o.svg", "object.usemap navigation #m", "embed.src resource e.swf", "input.src resource b.png", "input.formaction navigation f.html", "form.action navigation /post", "iframe.src navigation f.html", "body.background resource bg.png"}},
		{"style attr and block", `<div style="background: url( 'a.png' ) , url(b.png)"></div><style>/* url(no.png) */ @import "i.css"; .x{background:url(c.png)} .y::after{content:"url(no2.png)"}</style>`,
			[]string{"div.style resource a.png", "div.style resource b.png", "style.@import resource i.css", "style.url() resource c.png"}},
		{"style attr with entities", `<p style="background:url(&quot;a b.png&quot;); x: url(c.png?a=1&amp;b=2)">`,
			[]string{"p.style resource a b.png", "p.style resource c.png?a=1&b=2 raw=c.png?a=1&amp;b=2"}},
		{"srcdoc", `<iframe srcdoc="<p><img src=&quot;in.png&quot;><a href='x.html'>" src=f.html></iframe>`,
			[]string{"img.src resource in.png srcdoc", "a.href navigation x.html srcdoc", "iframe.src navigation f.html"}},
		{"noscript scanned", `<noscript><img src="ns.png"></noscript><script>document.write('<img src="no.png">')</script><textarea><a href=no.html></textarea><!-- <a href=no.html> -->`,
			[]string{"img.src resource ns.png"}},
		{"duplicate attrs first wins", `<img src=a.png src=b.png>`, []string{"img.src resource a.png"}},
		{"data attrs off by default", `<img data-src=lazy.png>`, nil},
		{"uppercase", `<IMG SRC="U.PNG"><A HREF=x.html>`, []string{"img.src resource U.PNG", "a.href navigation x.html"}},
		{"weird attribute syntax", `<img/src=a.png/ alt=x><img =x src="b.png"><img src = "c.png" ><a href=x.html/>`,
			[]string{"img.src resource a.png/", "img.src resource b.png", "img.src resource c.png", "a.href navigation x.html/"}},
		{"base not a ref", `<base href="/docs/"><base href=/other/><a href=x>`, []string{"a.href navigation x"}},
		{"crlf in srcset", "<img srcset=\"a.png 1x,\r\n b.png 2x\">", []string{"img.srcset resource a.png", "img.srcset resource b.png"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := scan(t, c.src, Options{})
			eq(t, c.name, brief(got.refs), c.want)
		})
	}
}

func TestDataAttrs(t *testing.T) {
	got := scan(t, `<img data-src=lazy.png data-SRCSET="l1.png 1x, l2.png 2x" data-other=x>`, Options{DataAttrs: []string{"data-src", "Data-Srcset"}})
	eq(t, "data", brief(got.refs), []string{"img.data-src resource lazy.png", "img.data-srcset resource l1.png", "img.data-srcset resource l2.png"})
}

func TestAnchorsAndBase(t *testing.T) {
	got := scan(t, "<base href=\" /docs/ \">\n<h1 id=top>x</h1><a name=\"old&amp;style\"></a>\n<map name=m></map><p name=no id=\"\"></p><base href=/second/>", Options{})
	eq(t, "anchors", got.anchors, []string{"top@2", "old&style@2", "m@3"})
	eq(t, "bases", got.bases, []string{"/docs/"})
}

func TestLines(t *testing.T) {
	src := "<p>\n<img\n src=a.png\n srcset=\"b.png 1x,\n c.png 2x\">\n<style>\n.a{}\n.b{background:url(d.png)}</style>"
	got := scan(t, src, Options{})
	var lines []string
	for _, r := range got.refs {
		lines = append(lines, fmt.Sprintf("%s:%d", r.Value, r.Line))
	}
	eq(t, "lines", lines, []string{"a.png:3", "b.png:4", "c.png:5", "d.png:8"})
}

func TestTagAttrsMatchXNetHTML(t *testing.T) {
	for _, src := range []string{
		`<a href=x>`, `<a href="x" href='y' HREF=z>`, `<a =x b c=d/>`, `<a/b/c=d>`, `<a b= c = "d"e=f>`,
		`<img src=a.png/>`, `<a x='>'y=">">`, `<a ""=x>`, "<a\tb\fc\r\nd>",
	} {
		checkAttrCount(t, []byte(src))
	}
}

// checkAttrCount compares the attributes that tokenizer.readTag records
// (duplicates dropped, the first wins, as the scanner does) with
// x/net/html's on every start tag: same number, same decoded values.
func checkAttrCount(t testing.TB, src []byte) {
	t.Helper()
	var ours [][]rawAttr
	z := tokenizer{buf: src}
	for {
		tt, _ := z.next()
		if tt == tokError {
			break
		}
		if tt == tokStartTag {
			var kept []rawAttr
		next:
			for _, a := range z.attrs {
				for _, k := range kept {
					if asciiEqualFold(src[k.ks:k.ke], src[a.ks:a.ke]) {
						continue next
					}
				}
				kept = append(kept, a)
			}
			ours = append(ours, kept)
		}
	}
	x := html.NewTokenizer(bytes.NewReader(src))
	pos, tag := 0, 0
	for {
		tt := x.Next()
		n := len(x.Raw())
		start := pos
		pos += n
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		_, more := x.TagName()
		var vals []string
		for more {
			var v []byte
			_, v, more = x.TagAttr()
			vals = append(vals, string(v))
		}
		if tag >= len(ours) {
			t.Fatalf("%q: x/net/html has more start tags", src)
		}
		spans := ours[tag]
		tag++
		if len(spans) != len(vals) {
			t.Fatalf("%q: readTag found %d attributes, x/net/html %d", src[start:pos], len(spans), len(vals))
		}
		for i, sp := range spans {
			raw := string(src[sp.vs:sp.ve])
			if got := decodeValue(raw); got != vals[i] {
				t.Fatalf("%q: attribute %d raw %q decodes to %q, x/net/html %q", src[start:pos], i, raw, got, vals[i])
			}
		}
	}
	if tag != len(ours) {
		t.Fatalf("%q: readTag saw %d start tags, x/net/html %d", src, len(ours), tag)
	}
}

func TestOffsetMap(t *testing.T) {
	raw := "a&amp;b&#x41;c\r\nd&notanentity;e"
	dec := decodeAttr(raw)
	dec = strings.ReplaceAll(dec, "\r\n", "\n")
	m := newOffsetMap(raw, dec)
	if m == nil {
		t.Fatalf("no map for %q -> %q", raw, dec)
	}
	// "b" in dec is at 2; in raw at 6
	if got := m.start(strings.Index(dec, "b")); got != 6 {
		t.Errorf("start(b) = %d, want 6", got)
	}
	if got := m.end(len(dec)); got != len(raw) {
		t.Errorf("end(len) = %d, want %d", got, len(raw))
	}
	if m := newOffsetMap("abc", "abd"); m != nil {
		t.Errorf("map for mismatching strings")
	}
}

// TestKnownTagsCoverSVG: the scanner finds SVG references only in
// elements whose names knownTag interns.
func TestKnownTagsCoverSVG(t *testing.T) {
	for tag := range svgHref {
		if knownTag([]byte(tag)) != tag {
			t.Errorf("knownTag(%q) = %q", tag, knownTag([]byte(tag)))
		}
	}
	if knownTag([]byte("no-such-element")) != "" {
		t.Error("knownTag interns unknown names")
	}
}

// TestNumericASCII: the fast path decodes exactly what the tokenizer does.
func TestNumericASCII(t *testing.T) {
	for v := 0; v < 0x300; v++ {
		for _, ref := range []string{fmt.Sprintf("&#%d;", v), fmt.Sprintf("&#x%x;", v), fmt.Sprintf("&#X%X;", v), fmt.Sprintf("&#%07d;", v)} {
			c, ok := numericASCII(ref)
			if !ok {
				continue
			}
			if want := decodeAttr(ref); want != string(rune(c)) {
				t.Errorf("%s: fast path %q, tokenizer %q", ref, c, want)
			}
		}
	}
	for _, ref := range []string{"&#64", "&#;", "&#x;", "&#0;", "&#128;", "&#x7f;", "&#1a;", "&amp;"} {
		if _, ok := numericASCII(ref); ok {
			t.Errorf("%s: fast path taken", ref)
		}
	}
	if c, ok := numericASCII("&#64;"); !ok || c != '@' {
		t.Errorf("&#64; = %q, %v", c, ok)
	}
}

// TestASCIIRefAt agrees with the tokenizer's decoding of attribute values.
func TestASCIIRefAt(t *testing.T) {
	for _, s := range []string{"x&amp;y", "&lt;", "&gt;x", "&quot;", "&apos;", "&#64;", "&#x2E;a", "&#X2f;", "&#46;"} {
		i := strings.IndexByte(s, '&')
		c, n, ok := ASCIIRefAt([]byte(s), i)
		if !ok {
			t.Errorf("%q: not decoded", s)
			continue
		}
		if want := decodeAttr(s[i : i+n]); want != string(rune(c)) {
			t.Errorf("%q: %q, tokenizer %q", s, c, want)
		}
	}
	for _, s := range []string{"&amp", "&ampx;", "&nbsp;", "&#128;", "&#10;", "&", "&#;", "&notin;", "&#x1F600;"} {
		if c, n, ok := ASCIIRefAt([]byte(s), 0); ok {
			t.Errorf("%q: decoded to %q (%d bytes)", s, c, n)
		}
	}
}

// TestMayBeKnownKey: the prefilter of readAttrs never hides a known key,
// in any ASCII case.
func TestMayBeKnownKey(t *testing.T) {
	for _, k := range []string{"id", "name", "href", "xlink:href", "src", "srcset", "imagesrcset", "poster", "data",
		"usemap", "action", "formaction", "background", "content", "http-equiv", "rel", "style", "srcdoc"} {
		for _, v := range []string{k, strings.ToUpper(k), strings.ToUpper(k[:1]) + k[1:]} {
			if knownKey([]byte(k)) != k || !mayBeKnownKey([]byte(v)) {
				t.Errorf("%q: known %q, prefilter %v", v, knownKey([]byte(k)), mayBeKnownKey([]byte(v)))
			}
		}
	}
	for _, k := range []string{"class", "title", "lang", "onclick", "aria-label"} {
		if mayBeKnownKey([]byte(k)) {
			t.Errorf("%q passes the prefilter", k)
		}
	}
}

// TestPercentByteAt: %XX in either case decodes; anything short of it
// does not.
func TestPercentByteAt(t *testing.T) {
	for _, c := range []struct {
		s    string
		i    int
		want byte
		ok   bool
	}{
		{"a%2Eb", 1, '.', true}, {"%2f", 0, '/', true}, {"%7C", 0, '|', true},
		{"%2", 0, 0, false}, {"%g0", 0, 0, false}, {"x%20", 0, 0, false}, {"100%", 3, 0, false},
	} {
		if got, ok := PercentByteAt(c.s, c.i); got != c.want || ok != c.ok {
			t.Errorf("PercentByteAt(%q, %d) = %q, %v", c.s, c.i, got, ok)
		}
		if got, ok := PercentByteAt([]byte(c.s), c.i); got != c.want || ok != c.ok {
			t.Errorf("PercentByteAt([]byte(%q), %d) = %q, %v", c.s, c.i, got, ok)
		}
	}
}

// asciiEqualFold compares with ASCII-only case folding, as the tokenizer
// does for keys.
func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

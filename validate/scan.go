package validate

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"

	"github.com/example/release-agent/htmlrefs"
)

// htmlVisitor adapts htmlrefs' Visitor to the page worker's sink, adding
// what validate checks beyond htmlrefs' reference set: ignore attributes on
// elements, cite attributes and <img> without src.
type htmlVisitor struct {
	src    []byte
	s      sink
	ignore [][]byte // lower-case ignore attribute names present in the page
	imgSrc []int    // offsets of the img src/srcset references, in document order
}

func (v *htmlVisitor) Ref(r htmlrefs.Ref) {
	if r.Tag == "img" && (r.Attr == "src" || r.Attr == "srcset") && !r.Inexact && !r.Srcdoc {
		v.imgSrc = append(v.imgSrc, r.Start)
	}
	if r.Srcdoc && strings.HasPrefix(r.Value, "#") {
		return // a fragment of the srcdoc document itself
	}
	sr := sref{value: r.Value, raw: r.Raw, line: r.Line, nav: r.Kind == htmlrefs.Navigation || r.Kind == htmlrefs.Refresh,
		smap:    r.Kind == htmlrefs.SourceMap,
		refresh: r.Kind == htmlrefs.Refresh, anchor: selfOK(r.Tag, r.Attr)}
	if r.Inexact && r.Raw == "" {
		sr.raw = r.Value
	}
	if len(v.ignore) > 0 && v.elementHasIgnore(r.Start, r.End) {
		sr.ignored = true
	}
	v.s.ref(sr)
}

// selfOK reports whether an empty value of attr on tag means "this page":
// a/area href and form action (Sphinx writes both).
func selfOK(tag, attr string) bool {
	switch attr {
	case "href":
		return tag == "a" || tag == "area"
	case "action":
		return tag == "form"
	case "formaction":
		return tag == "button" || tag == "input"
	}
	return false
}

func (v *htmlVisitor) Anchor(name string, line int) { v.s.anchor(name) }
func (v *htmlVisitor) Base(href string, line int)   { v.s.base(href) }

// elementHasIgnore reports whether the start tag around src[start:end]
// names one of the ignore attributes (as an attribute or a class).
func (v *htmlVisitor) elementHasIgnore(start, end int) bool {
	if start < 0 || end > len(v.src) || start > end {
		return false
	}
	ts := bytes.LastIndexByte(v.src[:start], '<')
	if ts < 0 {
		return false
	}
	te := bytes.IndexByte(v.src[end:], '>')
	if te < 0 {
		te = len(v.src) - end
	}
	tag := bytes.ToLower(v.src[ts : end+te])
	for _, a := range v.ignore {
		if bytes.Contains(tag, a) {
			return true
		}
	}
	return false
}

// scanHTML reports the references, anchors and base of one HTML page.
func scanHTML(src []byte, o *Options, s sink) {
	v := &htmlVisitor{src: src, s: s}
	for _, a := range o.IgnoreAttrs {
		la := []byte(strings.ToLower(a))
		if bytes.Contains(src, la) || bytes.Contains(src, bytes.ToUpper(la)) {
			v.ignore = append(v.ignore, la)
		}
	}
	_ = htmlrefs.ScanHTML(src, htmlrefs.Options{}, v)
	extras(src, v)
}

// extras reports what htmlrefs leaves out and the gate checks: <img>
// without src or srcset, and the cite attribute of blockquote, q, del and
// ins (a link to a source; htmlrefs skips it because nothing renders it).
// One pass over the '<' of the page finds the candidate start tags; an img
// whose src htmlrefs already reported is skipped, so only src-less images
// and cite tags are tokenized. Candidates inside comments or scripts are
// not told apart (rare).
func extras(src []byte, v *htmlVisitor) {
	lc := lineCount{src: src, line: 1}
	k := 0 // next of v.imgSrc to compare
	for i := 0; ; {
		j := bytes.IndexByte(src[i:], '<')
		if j < 0 || i+j+2 >= len(src) {
			return
		}
		start := i + j
		i = start + 1
		name := ""
		for _, n := range tagNames[src[i]|0x20] {
			if len(src)-i > len(n) && asciiEqualFold(src[i:i+len(n)], []byte(n)) && isTagEnd(src[i+len(n)]) {
				name = n
				break
			}
		}
		if name == "" {
			continue
		}
		end := bytes.IndexByte(src[start:], '>')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		if name == "img" {
			for k < len(v.imgSrc) && v.imgSrc[k] < start {
				k++
			}
			if k < len(v.imgSrc) && v.imgSrc[k] < end {
				continue // htmlrefs reported its src or srcset
			}
			if hasSrc, _, _ := tagAttrs(src, start); !hasSrc {
				v.s.ref(sref{raw: "<img>", line: lc.at(start), noSrc: true,
					ignored: len(v.ignore) > 0 && v.elementHasIgnore(start+1, start+1)})
			}
			continue
		}
		if indexFold(src[start:end], []byte("cite")) < 0 {
			continue
		}
		if _, cite, seen := tagAttrs(src, start); seen {
			v.s.ref(sref{raw: cite, value: strings.Trim(cite, " \t\n\f\r"), line: lc.at(start), nav: true,
				ignored: len(v.ignore) > 0 && v.elementHasIgnore(start+1, start+1)})
		}
	}
}

// tagNames are the start tags extras looks at, by first letter.
var tagNames = [256][]string{'i': {"img", "ins"}, 'b': {"blockquote"}, 'q': {"q"}, 'd': {"del"}}

// tagAttrs tokenizes the start tag at src[start] ('<') and reports whether
// it has src or srcset, and its first cite attribute.
func tagAttrs(src []byte, start int) (hasSrc bool, cite string, citeSeen bool) {
	end := bytes.IndexByte(src[start:], '>')
	if end < 0 {
		end = len(src) - start
	} else {
		end++
	}
	z := html.NewTokenizer(bytes.NewReader(src[start : start+end]))
	if tt := z.Next(); tt != html.StartTagToken && tt != html.SelfClosingTagToken {
		return true, "", false // not a tag after all: nothing to report
	}
	_, more := z.TagName()
	for more {
		var k, val []byte
		k, val, more = z.TagAttr()
		switch string(k) {
		case "src", "srcset":
			hasSrc = true
		case "cite":
			if !citeSeen {
				cite, citeSeen = string(val), true
			}
		}
	}
	return hasSrc, cite, citeSeen
}

// lineCount maps increasing offsets to 1-based lines.
type lineCount struct {
	src  []byte
	pos  int
	line int
}

func (c *lineCount) reset() { c.pos, c.line = 0, 1 }

func (c *lineCount) at(off int) int {
	if off < c.pos {
		c.reset()
	}
	c.line += bytes.Count(c.src[c.pos:off], []byte{'\n'})
	c.pos = off
	return c.line
}

func isTagEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '/' || c == '>'
}

// asciiEqualFold compares a with lower, folding ASCII letters of a only
// (bytes.EqualFold would also fold invalid UTF-8 sequences together).
func asciiEqualFold(a, lower []byte) bool {
	if len(a) != len(lower) {
		return false
	}
	for i, c := range a {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// indexFold returns the index of the first match of lowerNeedle (ASCII,
// lower case) in b ignoring ASCII case, or -1. It is linear in len(b).
func indexFold(b, lowerNeedle []byte) int {
	first := lowerNeedle[0]
	upper := first
	if first >= 'a' && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	// nl and nu are the next positions of first and upper at or after i
	// (-1: none left); each is searched again only when passed, so the
	// whole search is linear.
	nl, nu := -2, -2
	if upper == first {
		nu = -1
	}
	for i := 0; i+len(lowerNeedle) <= len(b); {
		if nl != -1 && nl < i {
			if k := bytes.IndexByte(b[i:], first); k >= 0 {
				nl = i + k
			} else {
				nl = -1
			}
		}
		if nu != -1 && nu < i {
			if k := bytes.IndexByte(b[i:], upper); k >= 0 {
				nu = i + k
			} else {
				nu = -1
			}
		}
		switch {
		case nl < 0 && nu < 0:
			return -1
		case nl < 0:
			i = nu
		case nu < 0:
			i = nl
		default:
			i = min(nl, nu)
		}
		if i+len(lowerNeedle) > len(b) {
			return -1
		}
		if asciiEqualFold(b[i:i+len(lowerNeedle)], lowerNeedle) {
			return i
		}
		i++
	}
	return -1
}

// scanCSS reports the references of a stylesheet.
func scanCSS(src []byte, s sink) {
	htmlrefs.ScanCSS(src, 0, 1, func(r htmlrefs.Ref) {
		s.ref(sref{value: r.Value, raw: r.Raw, line: r.Line, smap: r.Kind == htmlrefs.SourceMap})
	})
}

// scanScript reports the source map annotation of a JavaScript file.
func scanScript(src []byte, s sink) {
	htmlrefs.ScanSourceMap(src, func(r htmlrefs.Ref) {
		s.ref(sref{value: r.Value, raw: r.Raw, line: r.Line, smap: true})
	})
}

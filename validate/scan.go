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
	src     []byte
	s       sink
	ignore  [][]byte // lower-case ignore attribute names present in the page
	imgSrcs map[int]bool
}

func (v *htmlVisitor) Ref(r htmlrefs.Ref) {
	if r.Srcdoc && strings.HasPrefix(r.Value, "#") {
		return // a fragment of the srcdoc document itself
	}
	sr := sref{value: r.Value, raw: r.Raw, line: r.Line, nav: r.Kind == htmlrefs.Navigation || r.Kind == htmlrefs.Refresh,
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
// One pass over the start tags' first bytes finds the candidates; only
// their tags are tokenized, so the cost is a memchr of '<' per page.
// Candidates inside comments or scripts are not told apart (rare).
func extras(src []byte, v *htmlVisitor) {
	line, lpos := 1, 0
	for i := 0; ; {
		j := bytes.IndexByte(src[i:], '<')
		if j < 0 {
			return
		}
		i += j + 1
		if i >= len(src) {
			return
		}
		switch src[i] | 0x20 {
		case 'i', 'b', 'q', 'd':
		default:
			continue
		}
		name := ""
		for _, n := range [...]string{"img", "blockquote", "q", "del", "ins"} {
			if len(src)-i > len(n) && asciiEqualFold(src[i:i+len(n)], []byte(n)) && isTagEnd(src[i+len(n)]) {
				name = n
				break
			}
		}
		if name == "" {
			continue
		}
		start := i - 1
		end := bytes.IndexByte(src[start:], '>')
		if end < 0 {
			end = len(src) - start
		} else {
			end++
		}
		tag := src[start : start+end]
		if name != "img" && indexFold(tag, []byte("cite")) < 0 {
			continue
		}
		z := html.NewTokenizer(bytes.NewReader(tag))
		if tt := z.Next(); tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		_, more := z.TagName()
		hasSrc, cite, citeSeen := false, "", false
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
		if (name == "img" && hasSrc) || (name != "img" && !citeSeen) {
			continue
		}
		line += bytes.Count(src[lpos:start], []byte{'\n'})
		lpos = start
		ignored := len(v.ignore) > 0 && v.elementHasIgnore(start+1, start+1)
		if name == "img" {
			v.s.ref(sref{raw: "<img>", line: line, noSrc: true, ignored: ignored})
		} else {
			v.s.ref(sref{raw: cite, value: trimSpace(cite), line: line, nav: true, ignored: ignored})
		}
	}
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
		s.ref(sref{value: r.Value, raw: r.Raw, line: r.Line})
	})
}

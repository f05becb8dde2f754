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
		refresh: r.Kind == htmlrefs.Refresh, anchor: r.Attr == "href" && (r.Tag == "a" || r.Tag == "area")}
	if r.Inexact && r.Raw == "" {
		sr.raw = r.Value
	}
	if len(v.ignore) > 0 && v.elementHasIgnore(r.Start, r.End) {
		sr.ignored = true
	}
	v.s.ref(sr)
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
		if containsFold(src, la) {
			v.ignore = append(v.ignore, la)
		}
	}
	_ = htmlrefs.ScanHTML(src, htmlrefs.Options{}, v)
	imgWithoutSrc(src, v)
	if containsFold(src, []byte("cite")) && (containsFold(src, []byte("<blockquote")) || containsFold(src, []byte("<q")) ||
		containsFold(src, []byte("<del")) || containsFold(src, []byte("<ins"))) {
		cites(src, v)
	}
}

// imgWithoutSrc reports <img> elements with neither src nor srcset: each
// "<img" start tag is tokenized on its own, so the cost is proportional to
// the images, not the page.
func imgWithoutSrc(src []byte, v *htmlVisitor) {
	line, lpos := 1, 0
	for i := 0; ; {
		j := indexFold(src[i:], []byte("<img"))
		if j < 0 {
			return
		}
		i += j
		if i+4 < len(src) && !isTagEnd(src[i+4]) {
			i += 4
			continue
		}
		end := bytes.IndexByte(src[i:], '>')
		if end < 0 {
			end = len(src) - i
		} else {
			end++
		}
		z := html.NewTokenizer(bytes.NewReader(src[i : i+end]))
		tt := z.Next()
		hasSrc := false
		if tt == html.StartTagToken || tt == html.SelfClosingTagToken {
			_, more := z.TagName()
			for more {
				var k []byte
				k, _, more = z.TagAttr()
				if string(k) == "src" || string(k) == "srcset" {
					hasSrc = true
				}
			}
			if !hasSrc {
				line += bytes.Count(src[lpos:i], []byte{'\n'})
				lpos = i
				v.s.ref(sref{raw: "<img>", line: line, noSrc: true,
					ignored: len(v.ignore) > 0 && v.elementHasIgnore(i+1, i+1)})
			}
		}
		i += end
	}
}

func isTagEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '/' || c == '>'
}

// cites reports the cite attributes of blockquote, q, del and ins: links
// to a source, which htmlrefs does not report because nothing renders them.
func cites(src []byte, v *htmlVisitor) {
	z := html.NewTokenizer(bytes.NewReader(src))
	pos, line := 0, 1
	for {
		tt := z.Next()
		raw := z.Raw()
		start := pos
		pos += len(raw)
		ln := line
		line += bytes.Count(raw, []byte{'\n'})
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, more := z.TagName()
		switch string(name) {
		case "blockquote", "q", "del", "ins":
		default:
			continue
		}
		for more {
			var k, val []byte
			k, val, more = z.TagAttr()
			if string(k) == "cite" {
				c := string(val)
				v.s.ref(sref{raw: c, value: trimSpace(c), line: ln, nav: true,
					ignored: len(v.ignore) > 0 && v.elementHasIgnore(start+1, start+1)})
				break
			}
		}
	}
}

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
		if bytes.EqualFold(b[i:i+len(lowerNeedle)], lowerNeedle) {
			return i
		}
		i++
	}
	return -1
}

func containsFold(b, lowerNeedle []byte) bool { return indexFold(b, lowerNeedle) >= 0 }

// scanCSS reports the references of a stylesheet.
func scanCSS(src []byte, s sink) {
	htmlrefs.ScanCSS(src, 0, 1, func(r htmlrefs.Ref) {
		s.ref(sref{value: r.Value, raw: r.Raw, line: r.Line})
	})
}

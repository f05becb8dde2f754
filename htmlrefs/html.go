package htmlrefs

import (
	"bytes"
	"io"
	"strings"

	"golang.org/x/net/html"
)

// ScanHTML tokenizes an HTML document once and calls v for every reference
// (in offset order), every anchor target and the first <base href>. It
// never fails on malformed HTML; the error is non-nil only if the
// tokenizer reports something other than the end of input.
func ScanHTML(src []byte, opts Options, v Visitor) error {
	s := newScanner(src, opts, v)
	return s.scan(0, len(src), true)
}

type scanner struct {
	src      []byte
	opts     Options
	v        Visitor
	lc       lineCounter
	baseSeen bool
	data     map[string]bool
}

func newScanner(src []byte, opts Options, v Visitor) *scanner {
	s := &scanner{src: src, opts: opts, v: v, lc: lineCounter{src: src, line: 1}}
	if len(opts.DataAttrs) > 0 {
		s.data = make(map[string]bool, len(opts.DataAttrs))
		for _, a := range opts.DataAttrs {
			s.data[strings.ToLower(a)] = true
		}
	}
	return s
}

// attr is one attribute of a start tag: its decoded value (as the
// tokenizer gives it) and the span of its raw value in src.
type attr struct {
	key, val string
	rs, re   int // raw value span (rs == re for an empty or missing value)
}

// scan tokenizes src[a:b]. top is false for the content of <noscript>,
// which is scanned as HTML too.
func (s *scanner) scan(a, b int, top bool) error {
	z := html.NewTokenizer(bytes.NewReader(s.src[a:b]))
	pos := a
	rawCtx := ""
	var attrs []attr
	for {
		tt := z.Next()
		n := len(z.Raw())
		start := pos
		pos += n
		ctx := rawCtx
		rawCtx = ""
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				return err
			}
			return nil
		case html.TextToken:
			switch ctx {
			case "style":
				line := s.lc.lineAt(start)
				ScanCSS(s.src[start:pos], start, line, func(r Ref) {
					r.Tag = "style"
					s.v.Ref(r)
				})
			case "noscript":
				if err := s.scan(start, pos, false); err != nil {
					return err
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if tag == "style" || tag == "noscript" {
				rawCtx = tag
			}
			attrs = attrs[:0]
			if hasAttr {
				attrs = s.readAttrs(z, attrs, start, pos)
			}
			if len(attrs) > 0 {
				s.element(tag, attrs, start)
			}
		}
	}
}

// readAttrs pairs the tokenizer's decoded attribute values with the raw
// spans found by rawAttrs, which follows the tokenizer's algorithm.
func (s *scanner) readAttrs(z *html.Tokenizer, attrs []attr, start, end int) []attr {
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		attrs = append(attrs, attr{key: string(k), val: string(v), rs: -1})
	}
	spans := rawAttrs(s.src[start:end])
	if len(spans) != len(attrs) {
		// Cannot happen unless the tokenizer changes its rules; keep the
		// values and mark the spans unknown.
		return attrs
	}
	for i := range attrs {
		attrs[i].rs, attrs[i].re = start+spans[i][0], start+spans[i][1]
	}
	return attrs
}

func (s *scanner) element(tag string, attrs []attr, tagStart int) {
	get := func(k string) *attr {
		for i := range attrs {
			if attrs[i].key == k {
				return &attrs[i]
			}
		}
		return nil
	}
	line := func(a *attr) int {
		if a.rs >= 0 {
			return s.lc.lineAt(a.rs)
		}
		return s.lc.lineAt(tagStart)
	}
	if a := get("id"); a != nil && a.val != "" {
		s.v.Anchor(a.val, line(a))
	}
	if tag == "a" || tag == "map" {
		if a := get("name"); a != nil && a.val != "" {
			s.v.Anchor(a.val, line(a))
		}
	}
	if tag == "base" {
		if a := get("href"); a != nil && !s.baseSeen {
			s.baseSeen = true
			s.v.Base(trimWS(a.val), line(a))
		}
		return
	}
	for i := range attrs {
		a := &attrs[i]
		switch a.key {
		case "style":
			s.styleAttr(tag, a)
			continue
		case "srcdoc":
			if tag == "iframe" {
				s.srcdoc(a)
			}
			continue
		}
		kind, how := classify(tag, a.key, attrs)
		if kind == 0 && s.data != nil && s.data[a.key] {
			kind, how = Resource, plain
			if strings.HasSuffix(a.key, "srcset") {
				how = srcset
			}
		}
		if kind == 0 {
			continue
		}
		switch how {
		case plain:
			s.plain(tag, a, kind)
		case srcset:
			s.sub(tag, a, kind, func(dec string, emit func(i, j int)) { parseSrcset(dec, emit) })
		case refresh:
			if h := get("http-equiv"); h != nil && strings.EqualFold(trimWS(h.val), "refresh") {
				s.sub(tag, a, kind, func(dec string, emit func(i, j int)) { parseRefresh(dec, emit) })
			}
		}
	}
}

const (
	plain = iota + 1
	srcset
	refresh
)

var svgHref = map[string]bool{
	"image": true, "use": true, "feimage": true, "pattern": true, "lineargradient": true,
	"radialgradient": true, "textpath": true, "mpath": true, "script": true, "filter": true,
	"tref": true, "cursor": true, "set": true, "animate": true, "animatemotion": true,
	"animatetransform": true, "animatecolor": true,
}

var resourceRels = map[string]bool{
	"stylesheet": true, "icon": true, "apple-touch-icon": true, "apple-touch-icon-precomposed": true,
	"mask-icon": true, "preload": true, "modulepreload": true, "prefetch": true, "manifest": true,
	"fluid-icon": true,
}

// classify says whether attribute key of element tag is a reference, of
// what kind and with which syntax.
func classify(tag, key string, attrs []attr) (Kind, int) {
	switch key {
	case "href", "xlink:href":
		switch tag {
		case "a", "area":
			return Navigation, plain
		case "link":
			if key != "href" {
				return 0, 0
			}
			for i := range attrs {
				if attrs[i].key == "rel" {
					for _, r := range strings.Fields(strings.ToLower(attrs[i].val)) {
						if resourceRels[r] {
							return Resource, plain
						}
					}
					break
				}
			}
			return Navigation, plain
		}
		if svgHref[tag] {
			return Resource, plain
		}
	case "src":
		switch tag {
		case "img", "script", "embed", "source", "track", "audio", "video", "input":
			return Resource, plain
		case "iframe", "frame":
			return Navigation, plain
		}
	case "srcset":
		if tag == "img" || tag == "source" {
			return Resource, srcset
		}
	case "imagesrcset":
		if tag == "link" {
			return Resource, srcset
		}
	case "poster":
		if tag == "video" {
			return Resource, plain
		}
	case "data":
		if tag == "object" {
			return Resource, plain
		}
	case "usemap":
		if tag == "img" || tag == "object" || tag == "input" {
			return Navigation, plain
		}
	case "action":
		if tag == "form" {
			return Navigation, plain
		}
	case "formaction":
		if tag == "button" || tag == "input" {
			return Navigation, plain
		}
	case "background":
		if tag == "body" {
			return Resource, plain
		}
	case "content":
		if tag == "meta" {
			return Refresh, refresh
		}
	}
	return 0, 0
}

func (s *scanner) plain(tag string, a *attr, kind Kind) {
	r := Ref{Value: trimWS(a.val), Tag: tag, Attr: a.key, Kind: kind}
	if a.rs < 0 {
		r.Inexact = true
		r.Line = s.lc.lineAt(0)
	} else {
		r.Start, r.End = a.rs, a.re
		r.Raw = string(s.src[a.rs:a.re])
		r.Line = s.lc.lineAt(a.rs)
	}
	s.v.Ref(r)
}

// sub reports the references inside an attribute value (srcset, meta
// refresh): parse finds them in the decoded value, and the offsets are
// mapped back to the raw bytes.
func (s *scanner) sub(tag string, a *attr, kind Kind, parse func(dec string, emit func(i, j int))) {
	var m *offsetMap
	if a.rs >= 0 {
		m = newOffsetMap(string(s.src[a.rs:a.re]), a.val)
	}
	parse(a.val, func(i, j int) {
		r := Ref{Value: trimWS(a.val[i:j]), Tag: tag, Attr: a.key, Kind: kind}
		s.place(&r, a, m, i, j)
		s.v.Ref(r)
	})
}

// place sets r's Raw, Start, End and Line from decoded offsets i, j of
// attribute a's value.
func (s *scanner) place(r *Ref, a *attr, m *offsetMap, i, j int) {
	if m == nil {
		r.Inexact = true
		if a.rs >= 0 {
			r.Start, r.End = a.rs, a.re
			r.Raw = string(s.src[a.rs:a.re])
			r.Line = s.lc.lineAt(a.rs)
		} else {
			r.Line = s.lc.lineAt(0)
		}
		return
	}
	r.Start, r.End = a.rs+m.start(i), a.rs+m.end(j)
	if r.End < r.Start {
		r.End = r.Start
	}
	r.Raw = string(s.src[r.Start:r.End])
	r.Line = s.lc.lineAt(r.Start)
}

func (s *scanner) styleAttr(tag string, a *attr) {
	if a.rs >= 0 && a.re-a.rs == len(a.val) && string(s.src[a.rs:a.re]) == a.val {
		ScanCSS(s.src[a.rs:a.re], a.rs, s.lc.lineAt(a.rs), func(r Ref) {
			r.Tag, r.Attr = tag, "style"
			s.v.Ref(r)
		})
		return
	}
	var m *offsetMap
	if a.rs >= 0 {
		m = newOffsetMap(string(s.src[a.rs:a.re]), a.val)
	}
	ScanCSS([]byte(a.val), 0, 1, func(r Ref) {
		i, j := r.Start, r.End
		r.Tag, r.Attr = tag, "style"
		s.place(&r, a, m, i, j)
		s.v.Ref(r)
	})
}

// srcdoc scans the HTML document held (entity-encoded) in an iframe's
// srcdoc attribute. Its anchors and base belong to that document and are
// not reported.
func (s *scanner) srcdoc(a *attr) {
	var m *offsetMap
	if a.rs >= 0 {
		m = newOffsetMap(string(s.src[a.rs:a.re]), a.val)
	}
	inner := newScanner([]byte(a.val), s.opts, Funcs{OnRef: func(r Ref) {
		i, j := r.Start, r.End
		inexact := r.Inexact
		s.place(&r, a, m, i, j)
		r.Inexact = r.Inexact || inexact
		r.Srcdoc = true
		s.v.Ref(r)
	}})
	_ = inner.scan(0, len(inner.src), true)
}

// lineCounter maps offsets to 1-based lines, fast for increasing offsets.
type lineCounter struct {
	src  []byte
	pos  int
	line int
}

func (c *lineCounter) lineAt(off int) int {
	if off > len(c.src) {
		off = len(c.src)
	}
	if off < c.pos {
		c.pos, c.line = 0, 1
	}
	c.line += bytes.Count(c.src[c.pos:off], []byte{'\n'})
	c.pos = off
	return c.line
}

// isWS reports ASCII whitespace as the HTML and URL standards define it.
func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

func trimWS(s string) string {
	i, j := 0, len(s)
	for i < j && isWS(s[i]) {
		i++
	}
	for j > i && isWS(s[j-1]) {
		j--
	}
	return s[i:j]
}

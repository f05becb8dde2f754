package htmlrefs

import (
	"bytes"
	"strings"
)

// ScanHTML tokenizes an HTML document once, with the token boundaries of
// golang.org/x/net/html's Tokenizer (see tokenizer.go), and calls v for
// every reference (in offset order), every anchor target and the first
// <base href>. It never fails on malformed HTML: the error is always nil
// and is kept for future limits.
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

// attr is one attribute of a start tag that matters here: its canonical
// lower-case name and the span of its raw value in src. The decoded value
// is computed on demand.
type attr struct {
	key      string
	rs, re   int // raw value span (rs == re for an empty or missing value)
	val      string
	decoded  bool
	valIsRaw bool // val == string(src[rs:re])
}

// value returns the attribute value as the tokenizer would: character
// references decoded, CR LF and CR as LF, NUL as U+FFFD.
func (s *scanner) value(a *attr) string {
	if !a.decoded {
		a.decoded = true
		raw := s.src[a.rs:a.re]
		if bytes.IndexByte(raw, '&') < 0 && bytes.IndexByte(raw, '\r') < 0 && bytes.IndexByte(raw, 0) < 0 {
			a.val = string(raw)
			a.valIsRaw = true
		} else {
			a.val = decodeValue(string(raw))
		}
	}
	return a.val
}

// knownKeyStart has, for each length, a bit for the first letter of each
// name knownKey knows of that length.
var knownKeyStart = func() (t [12]uint32) {
	for _, k := range []string{"id", "name", "href", "xlink:href", "src", "srcset", "imagesrcset", "poster", "data",
		"usemap", "action", "formaction", "background", "content", "http-equiv", "rel", "style", "srcdoc"} {
		t[len(k)] |= 1 << (k[0] - 'a')
	}
	return t
}()

// mayBeKnownKey is a cheap test before knownKey: false means that knownKey
// would return "" (TestMayBeKnownKey).
func mayBeKnownKey(k []byte) bool {
	if len(k) >= len(knownKeyStart) {
		return false
	}
	c := k[0] | 0x20 // ASCII lower case (other bytes never match)
	return c >= 'a' && c <= 'z' && knownKeyStart[len(k)]&(1<<(c-'a')) != 0
}

// knownKey returns the canonical name of an attribute the scanner looks
// at, or "". (A switch on string(b) does not allocate.)
func knownKey(b []byte) string {
	switch string(b) {
	case "id":
		return "id"
	case "name":
		return "name"
	case "href":
		return "href"
	case "xlink:href":
		return "xlink:href"
	case "src":
		return "src"
	case "srcset":
		return "srcset"
	case "imagesrcset":
		return "imagesrcset"
	case "poster":
		return "poster"
	case "data":
		return "data"
	case "usemap":
		return "usemap"
	case "action":
		return "action"
	case "formaction":
		return "formaction"
	case "background":
		return "background"
	case "content":
		return "content"
	case "http-equiv":
		return "http-equiv"
	case "rel":
		return "rel"
	case "style":
		return "style"
	case "srcdoc":
		return "srcdoc"
	}
	return ""
}

// scan tokenizes src[a:b] (see tokenizer.go). top is false for the
// content of <noscript>, which is scanned as HTML too.
func (s *scanner) scan(a, b int, top bool) error {
	z := tokenizer{buf: s.src[a:b]}
	rawCtx := ""
	var attrs []attr
	for {
		tt, st := z.next()
		start, pos := a+st, a+z.pos
		ctx := rawCtx
		rawCtx = ""
		switch tt {
		case tokError:
			return nil
		case tokText:
			switch ctx {
			case "style":
				if s.opts.Filter != nil && !s.opts.Filter(s.src[start:pos]) {
					break
				}
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
		case tokStartTag:
			tag := ""
			if z.lnameLen >= 0 {
				tag = knownTag(z.lname[:z.lnameLen])
			}
			if tag == "style" || tag == "noscript" {
				rawCtx = tag
			}
			attrs = s.readAttrs(attrs[:0], z.attrs, a)
			if len(attrs) > 0 {
				if tag == "" {
					tag = strings.ToLower(strings.ReplaceAll(string(s.src[start+1:a+z.nameEnd]), "\x00", "\uFFFD"))
				}
				s.element(tag, attrs, start)
			}
		}
	}
}

// readAttrs keeps the attributes that matter of a start tag whose raw
// attribute spans (offsets from off) the tokenizer recorded, without
// allocating for the others. Of attributes with the same name (ASCII case
// folded) the first wins, as in the tokenizer; only kept names can clash.
func (s *scanner) readAttrs(attrs []attr, spans []rawAttr, off int) []attr {
	var lb [64]byte
next:
	for _, sp := range spans {
		k := s.src[off+sp.ks : off+sp.ke]
		if len(k) > len(lb) {
			continue
		}
		if s.data == nil && !mayBeKnownKey(k) {
			continue // most attributes: class, title, ...
		}
		n := copy(lb[:], k)
		for i := range n {
			if c := lb[i]; 'A' <= c && c <= 'Z' {
				lb[i] = c + 'a' - 'A'
			}
		}
		key := knownKey(lb[:n])
		if key == "" {
			if s.data == nil || !s.data[string(lb[:n])] {
				continue
			}
			key = string(lb[:n])
		}
		for i := range attrs {
			if attrs[i].key == key {
				continue next
			}
		}
		attrs = append(attrs, attr{key: key, rs: off + sp.vs, re: off + sp.ve})
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
	line := func(a *attr) int { return s.lc.lineAt(a.rs) }
	if a := get("id"); a != nil && s.value(a) != "" {
		s.v.Anchor(s.value(a), line(a))
	}
	if tag == "a" || tag == "map" {
		if a := get("name"); a != nil && s.value(a) != "" {
			s.v.Anchor(s.value(a), line(a))
		}
	}
	if tag == "base" {
		if a := get("href"); a != nil && !s.baseSeen {
			s.baseSeen = true
			s.v.Base(trimWS(s.value(a)), line(a))
		}
		return
	}
	for i := range attrs {
		a := &attrs[i]
		if s.opts.Filter != nil && a.key != "id" && a.key != "name" && !s.opts.Filter(s.src[a.rs:a.re]) {
			continue
		}
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
		kind, how := classify(tag, a.key, func(k string) string {
			for i := range attrs {
				if attrs[i].key == k {
					return s.value(&attrs[i])
				}
			}
			return ""
		})
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
			if h := get("http-equiv"); h != nil && strings.EqualFold(trimWS(s.value(h)), "refresh") {
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

// knownTag returns the interned name of a common or referencing element
// (b is lower case), or "" (the caller then allocates the name). A switch
// on string(b) does not allocate and is faster than a map lookup; every
// element of svgHref must be listed (TestKnownTagsCoverSVG).
func knownTag(b []byte) string {
	switch string(b) {
	case "a":
		return "a"
	case "area":
		return "area"
	case "link":
		return "link"
	case "img":
		return "img"
	case "source":
		return "source"
	case "script":
		return "script"
	case "iframe":
		return "iframe"
	case "frame":
		return "frame"
	case "embed":
		return "embed"
	case "audio":
		return "audio"
	case "video":
		return "video"
	case "track":
		return "track"
	case "input":
		return "input"
	case "button":
		return "button"
	case "form":
		return "form"
	case "object":
		return "object"
	case "body":
		return "body"
	case "meta":
		return "meta"
	case "base":
		return "base"
	case "map":
		return "map"
	case "style":
		return "style"
	case "noscript":
		return "noscript"
	case "div":
		return "div"
	case "span":
		return "span"
	case "p":
		return "p"
	case "li":
		return "li"
	case "ul":
		return "ul"
	case "td":
		return "td"
	case "tr":
		return "tr"
	case "section":
		return "section"
	case "h1":
		return "h1"
	case "h2":
		return "h2"
	case "h3":
		return "h3"
	case "h4":
		return "h4"
	case "h5":
		return "h5"
	case "h6":
		return "h6"
	case "dt":
		return "dt"
	case "dd":
		return "dd"
	case "dl":
		return "dl"
	case "table":
		return "table"
	case "th":
		return "th"
	case "pre":
		return "pre"
	case "code":
		return "code"
	case "em":
		return "em"
	case "strong":
		return "strong"
	case "head":
		return "head"
	case "html":
		return "html"
	case "title":
		return "title"
	case "nav":
		return "nav"
	case "main":
		return "main"
	case "header":
		return "header"
	case "footer":
		return "footer"
	case "article":
		return "article"
	case "aside":
		return "aside"
	case "svg":
		return "svg"
	case "path":
		return "path"
	case "g":
		return "g"
	case "label":
		return "label"
	case "select":
		return "select"
	case "option":
		return "option"
	case "textarea":
		return "textarea"
	case "picture":
		return "picture"
	case "figure":
		return "figure"
	case "i":
		return "i"
	case "b":
		return "b"
	case "image":
		return "image"
	case "use":
		return "use"
	case "feimage":
		return "feimage"
	case "pattern":
		return "pattern"
	case "lineargradient":
		return "lineargradient"
	case "radialgradient":
		return "radialgradient"
	case "textpath":
		return "textpath"
	case "mpath":
		return "mpath"
	case "filter":
		return "filter"
	case "tref":
		return "tref"
	case "cursor":
		return "cursor"
	case "set":
		return "set"
	case "animate":
		return "animate"
	case "animatemotion":
		return "animatemotion"
	case "animatetransform":
		return "animatetransform"
	case "animatecolor":
		return "animatecolor"
	}
	return ""
}

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
func classify(tag, key string, get func(string) string) (Kind, int) {
	switch key {
	case "href", "xlink:href":
		switch tag {
		case "a", "area":
			return Navigation, plain
		case "link":
			if key != "href" {
				return 0, 0
			}
			for _, r := range strings.Fields(strings.ToLower(get("rel"))) {
				if resourceRels[r] {
					return Resource, plain
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
	val := s.value(a)
	raw := val
	if !a.valIsRaw {
		raw = string(s.src[a.rs:a.re])
	}
	s.v.Ref(Ref{
		Value: trimWS(val),
		Raw:   raw,
		Start: a.rs,
		End:   a.re,
		Line:  s.lc.lineAt(a.rs),
		Tag:   tag,
		Attr:  a.key,
		Kind:  kind,
	})
}

// sub reports the references inside an attribute value (srcset, meta
// refresh): parse finds them in the decoded value, and the offsets are
// mapped back to the raw bytes.
func (s *scanner) sub(tag string, a *attr, kind Kind, parse func(dec string, emit func(i, j int))) {
	val := s.value(a)
	m := newOffsetMap(string(s.src[a.rs:a.re]), val)
	parse(val, func(i, j int) {
		r := Ref{Value: trimWS(val[i:j]), Tag: tag, Attr: a.key, Kind: kind}
		s.place(&r, a, m, i, j)
		s.v.Ref(r)
	})
}

// place sets r's Raw, Start, End and Line from decoded offsets i, j of
// attribute a's value.
func (s *scanner) place(r *Ref, a *attr, m *offsetMap, i, j int) {
	if m == nil {
		r.Inexact = true
		r.Start, r.End = a.rs, a.re
	} else {
		r.Start, r.End = a.rs+m.start(i), a.rs+m.end(j)
		if r.End < r.Start {
			r.End = r.Start
		}
	}
	r.Raw = string(s.src[r.Start:r.End])
	r.Line = s.lc.lineAt(r.Start)
}

func (s *scanner) styleAttr(tag string, a *attr) {
	val := s.value(a)
	if a.re-a.rs == len(val) && string(s.src[a.rs:a.re]) == val {
		ScanCSS(s.src[a.rs:a.re], a.rs, s.lc.lineAt(a.rs), func(r Ref) {
			r.Tag, r.Attr = tag, "style"
			s.v.Ref(r)
		})
		return
	}
	m := newOffsetMap(string(s.src[a.rs:a.re]), val)
	ScanCSS([]byte(val), 0, 1, func(r Ref) {
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
	val := s.value(a)
	m := newOffsetMap(string(s.src[a.rs:a.re]), val)
	inner := newScanner([]byte(val), s.opts, Funcs{OnRef: func(r Ref) {
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

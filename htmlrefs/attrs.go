package htmlrefs

import (
	"sort"
	"strings"

	"golang.org/x/net/html"
)

// rawAttrs returns the spans of the raw values of the attributes of a start
// tag (raw = "<name ...>"), in the order and with the duplicate rule of
// golang.org/x/net/html's Tokenizer (readTag, readTagAttrKey,
// readTagAttrVal), which it mirrors step by step.
func rawAttrs(out []rawAttr, raw []byte) []rawAttr {
	n := len(raw)
	i := 1 // after '<'
	isSpace := func(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' }
	skip := func() {
		for i < n && isSpace(raw[i]) {
			i++
		}
	}
	// tag name: the first byte is consumed unconditionally
	i++
	for i < n {
		c := raw[i]
		if isSpace(c) {
			i++
			break
		}
		if c == '/' || c == '>' {
			break
		}
		i++
	}
	skip()
	for i < n {
		if raw[i] == '>' {
			break
		}
		// key
		ks := i
		i++ // the first byte is always part of the key (or a lone '/', '=')
		if raw[ks] == '/' || raw[ks] == '>' || isSpace(raw[ks]) {
			i = ks // reconsumed: empty key
		}
		if i > ks {
			for i < n {
				c := raw[i]
				if c == '=' || isSpace(c) || c == '/' || c == '>' {
					break
				}
				i++
			}
		}
		ke := i
		// value
		vs, ve := i, i
		skip()
		if i < n {
			c := raw[i]
			i++
			switch {
			case c == '/':
			case c != '=':
				i--
			default:
				skip()
				if i < n {
					q := raw[i]
					i++
					switch q {
					case '>':
						i--
					case '\'', '"':
						vs = i
						for i < n && raw[i] != q {
							i++
						}
						ve = i
						if i < n {
							i++
						}
					default:
						vs = i - 1
						for i < n && !isSpace(raw[i]) && raw[i] != '>' {
							i++
						}
						ve = i
						if i < n && isSpace(raw[i]) {
							i++
						}
					}
				}
			}
		}
		if ke > ks {
			dup := false
			for _, o := range out {
				if asciiEqualFold(raw[o.ks:o.ke], raw[ks:ke]) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, rawAttr{ks, ke, vs, ve})
			}
		}
		skip()
	}
	return out
}

// offsetMap maps offsets in a decoded attribute value to offsets in its raw
// text (character references, CR LF and NUL make them differ).
type offsetMap struct {
	identity bool
	spans    []mspan
}

type mspan struct {
	rs, re, ds, de int
	linear         bool // a run of bytes copied as is
}

// newOffsetMap returns nil if it cannot account for every byte of dec.
func newOffsetMap(raw, dec string) *offsetMap {
	if raw == dec {
		return &offsetMap{identity: true}
	}
	m := &offsetMap{}
	i, d := 0, 0
	for i < len(raw) {
		c := raw[i]
		var j int
		var piece string
		switch c {
		case '&':
			j = entityEnd(raw, i)
			piece = decodeAttr(raw[i:j])
		case '\r':
			j = i + 1
			if j < len(raw) && raw[j] == '\n' {
				j++
			}
			piece = "\n"
		case 0:
			j, piece = i+1, "\uFFFD"
		default:
			j = i + 1
			for j < len(raw) && raw[j] != '&' && raw[j] != '\r' && raw[j] != 0 {
				j++
			}
			if !strings.HasPrefix(dec[d:], raw[i:j]) {
				return nil
			}
			m.spans = append(m.spans, mspan{i, j, d, d + j - i, true})
			d += j - i
			i = j
			continue
		}
		if !strings.HasPrefix(dec[d:], piece) {
			return nil
		}
		m.spans = append(m.spans, mspan{i, j, d, d + len(piece), false})
		d += len(piece)
		i = j
	}
	if d != len(dec) {
		return nil
	}
	return m
}

// start maps a decoded start offset (rounding down into a reference).
func (m *offsetMap) start(x int) int {
	if m.identity {
		return x
	}
	k := sort.Search(len(m.spans), func(k int) bool { return m.spans[k].de > x })
	if k == len(m.spans) {
		if k == 0 {
			return 0
		}
		return m.spans[k-1].re
	}
	s := m.spans[k]
	if s.linear {
		return s.rs + x - s.ds
	}
	return s.rs
}

// end maps a decoded end offset (rounding up over a reference).
func (m *offsetMap) end(x int) int {
	if m.identity {
		return x
	}
	k := sort.Search(len(m.spans), func(k int) bool { return m.spans[k].de >= x })
	if k == len(m.spans) {
		if k == 0 {
			return 0
		}
		return m.spans[k-1].re
	}
	s := m.spans[k]
	if s.linear || x == s.ds {
		return s.rs + x - s.ds
	}
	return s.re
}

// entityEnd returns the end of the character reference candidate at
// raw[i] == '&': '&#x1F;', '&#31;', '&name;' or their forms without ';'.
// A following '=' is included so that the attribute rule for legacy
// references ("&amp=" stays as is) sees it.
func entityEnd(raw string, i int) int {
	j := i + 1
	isAlnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	if j < len(raw) && raw[j] == '#' {
		j++
		if j < len(raw) && (raw[j] == 'x' || raw[j] == 'X') {
			j++
		}
	}
	for j < len(raw) && isAlnum(raw[j]) {
		j++
	}
	if j < len(raw) && (raw[j] == ';' || raw[j] == '=') {
		j++
	}
	return j
}

// decodeAttr decodes character references the way they are decoded in an
// attribute value, by asking the tokenizer itself.
func decodeAttr(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	z := html.NewTokenizer(strings.NewReader(`<a x="` + s + `">`))
	z.Next()
	z.TagName()
	_, v, _ := z.TagAttr()
	return string(v)
}

// parseSrcset calls emit with the span of every candidate URL of a srcset
// value, following the HTML standard's "parse a srcset attribute".
func parseSrcset(s string, emit func(i, j int)) {
	n := len(s)
	pos := 0
	for {
		for pos < n && (isWS(s[pos]) || s[pos] == ',') {
			pos++
		}
		if pos >= n {
			return
		}
		start := pos
		for pos < n && !isWS(s[pos]) {
			pos++
		}
		end := pos
		if s[end-1] == ',' {
			for end > start && s[end-1] == ',' {
				end--
			}
			emit(start, end)
			continue
		}
		emit(start, end)
		inParens := false
		for pos < n {
			c := s[pos]
			pos++
			if inParens {
				if c == ')' {
					inParens = false
				}
			} else if c == '(' {
				inParens = true
			} else if c == ',' {
				break
			}
		}
	}
}

// parseRefresh calls emit with the span of the URL in a meta refresh
// content value ("5; url='next.html'"), following the HTML standard's
// shared declarative refresh steps.
func parseRefresh(s string, emit func(i, j int)) {
	n := len(s)
	pos := 0
	for pos < n && isWS(s[pos]) {
		pos++
	}
	digits := pos
	for pos < n && s[pos] >= '0' && s[pos] <= '9' {
		pos++
	}
	if pos == digits && (pos >= n || s[pos] != '.') {
		return
	}
	for pos < n && (s[pos] >= '0' && s[pos] <= '9' || s[pos] == '.') {
		pos++
	}
	if pos >= n {
		return
	}
	if c := s[pos]; !isWS(c) && c != ';' && c != ',' {
		return
	}
	for pos < n && isWS(s[pos]) {
		pos++
	}
	if pos < n && (s[pos] == ';' || s[pos] == ',') {
		pos++
	}
	for pos < n && isWS(s[pos]) {
		pos++
	}
	if pos >= n {
		return
	}
	urlStart := pos
	if pos+3 <= n && strings.EqualFold(s[pos:pos+3], "url") {
		p := pos + 3
		for p < n && isWS(s[p]) {
			p++
		}
		if p < n && s[p] == '=' {
			p++
			for p < n && isWS(s[p]) {
				p++
			}
			urlStart = p
		}
	}
	end := n
	if urlStart < n && (s[urlStart] == '\'' || s[urlStart] == '"') {
		q := s[urlStart]
		urlStart++
		if k := strings.IndexByte(s[urlStart:], q); k >= 0 {
			end = urlStart + k
		}
	}
	// trim the span to the URL itself
	for urlStart < end && isWS(s[urlStart]) {
		urlStart++
	}
	for end > urlStart && isWS(s[end-1]) {
		end--
	}
	emit(urlStart, end)
}

// rawAttr is the key span and the value span of one attribute.
type rawAttr struct{ ks, ke, vs, ve int }

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

// decodeValue decodes a raw attribute value as the tokenizer does: NUL
// as U+FFFD, CR LF and CR as LF, then character references.
func decodeValue(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '&':
			j := entityEnd(raw, i)
			switch raw[i:j] {
			// The common references, decoded without a tokenizer: named,
			// terminated by ';', so no attribute-value special case applies.
			case "&amp;":
				b.WriteByte('&')
			case "&lt;":
				b.WriteByte('<')
			case "&gt;":
				b.WriteByte('>')
			case "&quot;":
				b.WriteByte('"')
			case "&#39;", "&apos;":
				b.WriteByte('\'')
			default:
				b.WriteString(decodeAttr(raw[i:j]))
			}
			i = j
		case '\r':
			b.WriteByte('\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case 0:
			b.WriteString("\uFFFD")
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

package htmlrefs

import (
	"sort"
	"strings"

	"golang.org/x/net/html"
)

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

// rawAttr is the key span and the raw value span of one attribute.
type rawAttr struct{ ks, ke, vs, ve int }

// decodeValue decodes a raw attribute value as the tokenizer does: NUL
// as U+FFFD, CR LF and CR as LF, then character references.
func decodeValue(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '&':
			j := entityEnd(raw, i)
			// The common references are decoded without a tokenizer.
			if c, ok := asciiRef(raw[i:j]); ok {
				b.WriteByte(c)
			} else {
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

// asciiRef decodes the references that stand for one printable ASCII
// character and need none of the attribute-value special cases (they end
// in ';'): &amp; &lt; &gt; &quot; &apos; and numericASCII's. ok is false
// for every other reference.
func asciiRef(ref string) (byte, bool) {
	switch ref {
	case "&amp;":
		return '&', true
	case "&lt;":
		return '<', true
	case "&gt;":
		return '>', true
	case "&quot;":
		return '"', true
	case "&apos;":
		return '\'', true
	}
	return numericASCII(ref)
}

// numericASCII decodes a numeric character reference terminated by ';'
// ("&#64;", "&#x40;") whose value is printable ASCII (0x20 to 0x7E): the
// value itself, by the standard's rules, with no exception applying.
// Other references are left to the tokenizer.
func numericASCII(ref string) (byte, bool) {
	if len(ref) < 4 || ref[1] != '#' || ref[len(ref)-1] != ';' {
		return 0, false
	}
	digits, base := ref[2:len(ref)-1], 10
	if digits != "" && (digits[0] == 'x' || digits[0] == 'X') {
		digits, base = digits[1:], 16
	}
	if digits == "" || len(digits) > 6 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d int
		switch {
		case '0' <= c && c <= '9':
			d = int(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = int(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = int(c-'A') + 10
		default:
			return 0, false
		}
		v = v*base + d
	}
	if v < 0x20 || v > 0x7e {
		return 0, false
	}
	return byte(v), true
}

// ASCIIRefAt reports what the character reference that starts at raw[i]
// ('&') decodes to in an attribute value, if it is one of those that
// decode to a single printable ASCII character: &amp; &lt; &gt; &quot;
// &apos; and numeric references to 0x20-0x7E, each terminated by ';'.
// It returns the character and the length of the reference; ok is false
// for every other reference (and for a '&' that starts none).
func ASCIIRefAt(raw []byte, i int) (c byte, n int, ok bool) {
	j := i + 1
	if j < len(raw) && raw[j] == '#' {
		j++
		if j < len(raw) && (raw[j] == 'x' || raw[j] == 'X') {
			j++
		}
	}
	for j < len(raw) && j-i < 12 && (raw[j] >= '0' && raw[j] <= '9' || raw[j] >= 'a' && raw[j] <= 'z' || raw[j] >= 'A' && raw[j] <= 'Z') {
		j++
	}
	if j >= len(raw) || raw[j] != ';' {
		return 0, 0, false
	}
	if c, ok := asciiRef(string(raw[i : j+1])); ok {
		return c, j + 1 - i, true
	}
	return 0, 0, false
}

// PercentByteAt decodes the %XX escape at s[i], if s[i] is '%' followed
// by two hex digits.
func PercentByteAt[T ~string | ~[]byte](s T, i int) (byte, bool) {
	if i+2 >= len(s) || s[i] != '%' || !isHex(s[i+1]) || !isHex(s[i+2]) {
		return 0, false
	}
	return unhex(s[i+1])<<4 | unhex(s[i+2]), true
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

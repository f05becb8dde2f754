package htmlrefs

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ScanCSS tokenizes a style sheet (or a style attribute's declarations)
// and calls fn for every reference: url(...) with or without quotes and
// inner spaces, @import "x", strings inside image-set() and its prefixed
// forms, src("x"), and a /*# sourceMappingURL=x */ comment. Comments,
// strings and escapes are tokenized as CSS Syntax Level 3 says, so nothing
// inside a comment or an unrelated string is reported. offset is added to
// every Start and End; line is the line number of src[0]. Tag is left empty.
//
// For a url() or string, Raw is the text between the parentheses or quotes
// without surrounding whitespace (quotes excluded), so replacing it keeps
// the quoting style; Value has CSS escapes decoded.
func ScanCSS(src []byte, offset int, line int, fn func(Ref)) {
	c := cssScanner{src: src, off: offset, fn: fn, lc: lineCounter{src: src, line: line}}
	c.run()
}

type cssScanner struct {
	src   []byte
	off   int
	fn    func(Ref)
	lc    lineCounter
	stack []string // open functions ("" for a plain parenthesis)
}

func (c *cssScanner) emit(i, j int, attr string, kind Kind) {
	raw := c.src[i:j]
	c.fn(Ref{
		Value: trimWS(cssUnescape(raw)),
		Raw:   string(raw),
		Start: c.off + i,
		End:   c.off + j,
		Line:  c.lc.lineAt(i),
		Attr:  attr,
		Kind:  kind,
	})
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isName(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' || c == '-' }

func isCSSWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// validEscape reports whether src[i] == '\\' starts a valid escape.
func validEscape(src []byte, i int) bool {
	return i+1 < len(src) && src[i] == '\\' && src[i+1] != '\n' && src[i+1] != '\r' && src[i+1] != '\f'
}

// identStart reports whether an identifier starts at src[i].
func identStart(src []byte, i int) bool {
	if i >= len(src) {
		return false
	}
	switch c := src[i]; {
	case c == '-':
		if i+1 < len(src) && (isNameStart(src[i+1]) || src[i+1] == '-') {
			return true
		}
		return validEscape(src, i+1)
	case c == '\\':
		return validEscape(src, i)
	default:
		return isNameStart(c)
	}
}

// name consumes name code points (and escapes) from src[i], returning the end.
func (c *cssScanner) name(i int) int {
	for i < len(c.src) {
		if isName(c.src[i]) {
			i++
		} else if validEscape(c.src, i) {
			i = escapeEnd(c.src, i)
		} else {
			break
		}
	}
	return i
}

// escapeEnd returns the end of the valid escape at src[i] == '\\'.
func escapeEnd(src []byte, i int) int {
	i++
	if i >= len(src) {
		return i
	}
	if isHex(src[i]) {
		k := 0
		for i < len(src) && k < 6 && isHex(src[i]) {
			i++
			k++
		}
		if i < len(src) && isCSSWS(src[i]) {
			if src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			i++
		}
		return i
	}
	_, size := utf8.DecodeRune(src[i:])
	return i + size
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (c *cssScanner) run() {
	src := c.src
	n := len(src)
	importPending := false // after @import, before the next token
	for i := 0; i < n; {
		ch := src[i]
		switch {
		case isCSSWS(ch):
			i++
			continue
		case ch == '/' && i+1 < n && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			ce := n
			if end >= 0 {
				ce = i + 2 + end
			}
			c.comment(i+2, ce)
			i = ce + 2
			if i > n {
				i = n
			}
			continue
		}
		wasImport := importPending
		importPending = false
		switch {
		case ch == '"' || ch == '\'':
			j, cs, ce := stringEnd(src, i)
			if wasImport {
				c.emit(cs, ce, "@import", Resource)
			} else if top := c.top(); top == "url" || top == "src" || isImageSet(top) {
				attr := "url()"
				if top == "src" {
					attr = "src()"
				} else if top != "url" {
					attr = "image-set()"
				}
				c.emit(cs, ce, attr, Resource)
			}
			i = j
		case identStart(src, i):
			j := c.name(i)
			if j < n && src[j] == '(' {
				fname := strings.ToLower(cssUnescape(src[i:j]))
				if fname == "url" {
					i = c.url(j+1, wasImport)
					continue
				}
				c.stack = append(c.stack, fname)
				j++
			}
			i = j
		case ch == '@' && identStart(src, i+1):
			j := c.name(i + 1)
			if strings.EqualFold(cssUnescape(src[i+1:j]), "import") {
				importPending = true
			}
			i = j
		case ch == '#' || ch >= '0' && ch <= '9':
			i = c.name(i + 1)
		case ch == '\\':
			// an invalid escape (backslash before a newline): a delim
			i++
		case ch == '(':
			c.stack = append(c.stack, "")
			i++
		case ch == ')':
			if len(c.stack) > 0 {
				c.stack = c.stack[:len(c.stack)-1]
			}
			i++
		case ch == '{' || ch == '}' || ch == ';':
			c.stack = c.stack[:0]
			i++
		default:
			i++
		}
	}
}

func (c *cssScanner) top() string {
	if len(c.stack) == 0 {
		return ""
	}
	return c.stack[len(c.stack)-1]
}

func isImageSet(f string) bool {
	return f == "image-set" || f == "-webkit-image-set" || f == "-moz-image-set" || f == "-o-image-set"
}

// stringEnd scans the string token starting with the quote at src[i]; it
// returns the end of the token and the span of its content.
func stringEnd(src []byte, i int) (end, cs, ce int) {
	q := src[i]
	j := i + 1
	for j < len(src) {
		switch src[j] {
		case q:
			return j + 1, i + 1, j
		case '\n', '\r', '\f':
			// bad string: ends before the newline
			return j, i + 1, j
		case '\\':
			if j+1 < len(src) {
				if src[j+1] == '\r' && j+2 < len(src) && src[j+2] == '\n' {
					j += 3
				} else {
					j += 2
				}
				continue
			}
		}
		j++
	}
	return j, i + 1, j
}

// url consumes what follows "url(" at src[i]: either a url token (an
// unquoted URL) or, when a quote comes first, a function whose string
// argument is the URL.
func (c *cssScanner) url(i int, imp bool) int {
	src := c.src
	n := len(src)
	attr := "url()"
	if imp {
		attr = "@import"
	}
	j := i
	for j < n && isCSSWS(src[j]) {
		j++
	}
	if j < n && (src[j] == '"' || src[j] == '\'') {
		end, cs, ce := stringEnd(src, j)
		c.emit(cs, ce, attr, Resource)
		c.stack = append(c.stack, "url")
		return end
	}
	// url token
	start := j
	for j < n {
		ch := src[j]
		switch {
		case ch == ')':
			c.emit(start, j, attr, Resource)
			return j + 1
		case isCSSWS(ch):
			k := j
			for k < n && isCSSWS(src[k]) {
				k++
			}
			if k >= n || src[k] == ')' {
				c.emit(start, j, attr, Resource)
				if k < n {
					k++
				}
				return k
			}
			return c.badURL(k)
		case ch == '"' || ch == '\'' || ch == '(' || ch < 0x20 && ch != '\t' || ch == 0x7f:
			return c.badURL(j)
		case ch == '\\':
			if validEscape(src, j) {
				j = escapeEnd(src, j)
				continue
			}
			return c.badURL(j)
		}
		j++
	}
	c.emit(start, j, attr, Resource) // EOF ends the url token
	return j
}

// badURL consumes the remnants of a bad url token (not a reference).
func (c *cssScanner) badURL(j int) int {
	src := c.src
	for j < len(src) {
		if src[j] == ')' {
			return j + 1
		}
		if validEscape(src, j) {
			j = escapeEnd(src, j)
			continue
		}
		j++
	}
	return j
}

// comment looks for a source map annotation in the comment src[i:j].
func (c *cssScanner) comment(i, j int) {
	body := c.src[i:j]
	if len(body) < 2 || body[0] != '#' && body[0] != '@' || !isCSSWS(body[1]) {
		return
	}
	k := 1
	for k < len(body) && isCSSWS(body[k]) {
		k++
	}
	const key = "sourceMappingURL="
	if !bytes.HasPrefix(body[k:], []byte(key)) {
		return
	}
	s := k + len(key)
	e := s
	for e < len(body) && !isCSSWS(body[e]) {
		e++
	}
	if e > s {
		c.emit(i+s, i+e, "sourceMappingURL", SourceMap)
	}
}

// UnescapeCSS decodes CSS escapes (`\61 ` is "a", `\(` is "(") and
// drops escaped newlines, as the CSS tokenizer does inside strings and
// url() tokens.
func UnescapeCSS(s string) string { return cssUnescape([]byte(s)) }

// cssUnescape decodes CSS escapes (and drops escaped newlines).
func cssUnescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); {
		if b[i] != '\\' {
			sb.WriteByte(b[i])
			i++
			continue
		}
		if i+1 >= len(b) {
			i++
			continue
		}
		nx := b[i+1]
		switch {
		case nx == '\n' || nx == '\f':
			i += 2
		case nx == '\r':
			i += 2
			if i < len(b) && b[i] == '\n' {
				i++
			}
		case isHex(nx):
			j := i + 1
			for j < len(b) && j-i-1 < 6 && isHex(b[j]) {
				j++
			}
			v, _ := strconv.ParseUint(string(b[i+1:j]), 16, 32)
			r := rune(v)
			if r == 0 || r > utf8.MaxRune || r >= 0xD800 && r <= 0xDFFF {
				r = utf8.RuneError
			}
			sb.WriteRune(r)
			if j < len(b) && isCSSWS(b[j]) {
				if b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n' {
					j++
				}
				j++
			}
			i = j
		default:
			_, size := utf8.DecodeRune(b[i+1:])
			sb.Write(b[i+1 : i+1+size])
			i += 1 + size
		}
	}
	return sb.String()
}

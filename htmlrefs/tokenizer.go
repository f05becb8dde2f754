package htmlrefs

import "bytes"

// This file is a port of the token-boundary logic of
// golang.org/x/net/html's Tokenizer (token.go: Next, readRawOrRCDATA,
// readRawEndTag, readScript, readComment, readMarkupDeclaration,
// readTag...; BSD-style license, Copyright The Go Authors) to a byte slice
// held in memory. It decides exactly the same token boundaries (the
// differential test FuzzTokenizerBoundaries checks that against the
// original on every input), but it skips text with bytes.IndexByte and
// allocates nothing, which makes scanning about 5x faster than the
// original on real documentation sites. Attribute names and values are
// not computed here: rawAttrs reads them from the tag's raw bytes.

type tokenType uint8

const (
	tokError tokenType = iota
	tokText
	tokStartTag
	tokEndTag
	tokComment
	tokDoctype
)

type tokenizer struct {
	buf    []byte
	pos    int // z.raw.end
	eof    bool
	rawTag string
}

func (z *tokenizer) readByte() byte {
	if z.pos >= len(z.buf) {
		z.eof = true
		return 0
	}
	c := z.buf[z.pos]
	z.pos++
	return c
}

func isTokSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' }

func (z *tokenizer) skipWhiteSpace() {
	for !z.eof {
		c := z.readByte()
		if z.eof {
			return
		}
		if !isTokSpace(c) {
			z.pos--
			return
		}
	}
}

// next reads the next token and returns its type and the start of its raw
// bytes (which end at z.pos). For a start tag it also returns the end of
// the tag name.
func (z *tokenizer) next() (tt tokenType, start int) {
	start = z.pos
	if z.eof {
		return tokError, start
	}
	if z.rawTag != "" {
		if z.rawTag == "plaintext" {
			z.pos = len(z.buf)
			z.eof = true
		} else {
			z.readRawOrRCDATA()
		}
		if z.pos > start {
			return tokText, start
		}
	}
	for {
		// Text up to the next '<' (the original reads it byte by byte).
		k := bytes.IndexByte(z.buf[z.pos:], '<')
		if k < 0 {
			z.pos = len(z.buf)
			z.eof = true
			break
		}
		z.pos += k + 1
		c := z.readByte()
		if z.eof {
			break
		}
		var t tokenType
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			t = tokStartTag
		case c == '/':
			t = tokEndTag
		case c == '!' || c == '?':
			t = tokComment
		default:
			z.pos--
			continue
		}
		if x := z.pos - 2; start < x {
			z.pos = x
			return tokText, start
		}
		switch t {
		case tokStartTag:
			z.readTag()
			if z.eof {
				return tokError, start
			}
			z.setRawTag(start)
			return tokStartTag, start
		case tokEndTag:
			c = z.readByte()
			if z.eof {
				break
			}
			if c == '>' {
				return tokComment, start
			}
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
				z.readTag()
				if z.eof {
					return tokError, start
				}
				return tokEndTag, start
			}
			z.pos--
			z.readUntilCloseAngle()
			return tokComment, start
		case tokComment:
			if c == '!' {
				return z.readMarkupDeclaration(), start
			}
			z.pos--
			z.readUntilCloseAngle()
			return tokComment, start
		}
		break
	}
	if start < z.pos {
		return tokText, start
	}
	return tokError, start
}

var rawTags = []string{"iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp"}

// setRawTag flags the next token as raw text after these start tags.
func (z *tokenizer) setRawTag(start int) {
	i := start + 1
	j := i
	for j < len(z.buf) && !isTokSpace(z.buf[j]) && z.buf[j] != '/' && z.buf[j] != '>' {
		j++
	}
	name := z.buf[i:j]
	for _, t := range rawTags {
		if asciiEqualFold(name, []byte(t)) {
			z.rawTag = t
			return
		}
	}
}

// readTag skips a tag's name and attributes, like the original readTag.
func (z *tokenizer) readTag() {
	// tag name: the first byte has been consumed
	for {
		c := z.readByte()
		if z.eof {
			return
		}
		if isTokSpace(c) {
			break
		}
		if c == '/' || c == '>' {
			z.pos--
			break
		}
	}
	if z.skipWhiteSpace(); z.eof {
		return
	}
	for {
		c := z.readByte()
		if z.eof || c == '>' {
			break
		}
		z.pos--
		z.readTagAttrKey()
		z.readTagAttrVal()
		if z.skipWhiteSpace(); z.eof {
			break
		}
	}
}

func (z *tokenizer) readTagAttrKey() {
	start := z.pos
	for {
		c := z.readByte()
		if z.eof {
			return
		}
		switch c {
		case '=':
			if start+1 == z.pos {
				continue
			}
			z.pos--
			return
		case ' ', '\n', '\r', '\t', '\f', '/', '>':
			z.pos--
			return
		}
	}
}

func (z *tokenizer) readTagAttrVal() {
	if z.skipWhiteSpace(); z.eof {
		return
	}
	c := z.readByte()
	if z.eof {
		return
	}
	if c == '/' {
		return
	}
	if c != '=' {
		z.pos--
		return
	}
	if z.skipWhiteSpace(); z.eof {
		return
	}
	quote := z.readByte()
	if z.eof {
		return
	}
	switch quote {
	case '>':
		z.pos--
	case '\'', '"':
		k := bytes.IndexByte(z.buf[z.pos:], quote)
		if k < 0 {
			z.pos = len(z.buf)
			z.eof = true
			return
		}
		z.pos += k + 1
	default:
		for {
			c := z.readByte()
			if z.eof {
				return
			}
			if isTokSpace(c) {
				return
			}
			if c == '>' {
				z.pos--
				return
			}
		}
	}
}

func (z *tokenizer) readRawOrRCDATA() {
	if z.rawTag == "script" {
		z.readScript()
		z.rawTag = ""
		return
	}
	for {
		k := bytes.IndexByte(z.buf[z.pos:], '<')
		if k < 0 {
			z.pos = len(z.buf)
			z.eof = true
			break
		}
		z.pos += k + 1
		c := z.readByte()
		if z.eof {
			break
		}
		if c != '/' {
			z.pos--
			continue
		}
		if z.readRawEndTag() || z.eof {
			break
		}
	}
	z.rawTag = ""
}

func (z *tokenizer) readRawEndTag() bool {
	for i := 0; i < len(z.rawTag); i++ {
		c := z.readByte()
		if z.eof {
			return false
		}
		if c != z.rawTag[i] && c != z.rawTag[i]-('a'-'A') {
			z.pos--
			return false
		}
	}
	c := z.readByte()
	if z.eof {
		return false
	}
	switch c {
	case ' ', '\n', '\r', '\t', '\f', '/', '>':
		z.pos -= 3 + len(z.rawTag)
		return true
	}
	z.pos--
	return false
}

func (z *tokenizer) readScript() {
	var c byte

scriptData:
	{
		k := bytes.IndexByte(z.buf[z.pos:], '<')
		if k < 0 {
			z.pos = len(z.buf)
			z.eof = true
			return
		}
		z.pos += k + 1
	}
	goto scriptDataLessThanSign

scriptDataLessThanSign:
	c = z.readByte()
	if z.eof {
		return
	}
	switch c {
	case '/':
		goto scriptDataEndTagOpen
	case '!':
		goto scriptDataEscapeStart
	}
	z.pos--
	goto scriptData

scriptDataEndTagOpen:
	if z.readRawEndTag() || z.eof {
		return
	}
	goto scriptData

scriptDataEscapeStart:
	c = z.readByte()
	if z.eof {
		return
	}
	if c == '-' {
		goto scriptDataEscapeStartDash
	}
	z.pos--
	goto scriptData

scriptDataEscapeStartDash:
	c = z.readByte()
	if z.eof {
		return
	}
	if c == '-' {
		goto scriptDataEscapedDashDash
	}
	z.pos--
	goto scriptData

scriptDataEscaped:
	c = z.readByte()
	if z.eof {
		return
	}
	switch c {
	case '-':
		goto scriptDataEscapedDash
	case '<':
		goto scriptDataEscapedLessThanSign
	}
	goto scriptDataEscaped

scriptDataEscapedDash:
	c = z.readByte()
	if z.eof {
		return
	}
	switch c {
	case '-':
		goto scriptDataEscapedDashDash
	case '<':
		goto scriptDataEscapedLessThanSign
	}
	goto scriptDataEscaped

scriptDataEscapedDashDash:
	c = z.readByte()
	if z.eof {
		return
	}
	switch c {
	case '-':
		goto scriptDataEscapedDashDash
	case '<':
		goto scriptDataEscapedLessThanSign
	case '>':
		goto scriptData
	}
	goto scriptDataEscaped

scriptDataEscapedLessThanSign:
	c = z.readByte()
	if z.eof {
		return
	}
	if c == '/' {
		goto scriptDataEscapedEndTagOpen
	}
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
		goto scriptDataDoubleEscapeStart
	}
	z.pos--
	goto scriptData

scriptDataEscapedEndTagOpen:
	if z.readRawEndTag() || z.eof {
		return
	}
	goto scriptDataEscaped

scriptDataDoubleEscapeStart:
	z.pos--
	for i := 0; i < len("script"); i++ {
		c = z.readByte()
		if z.eof {
			return
		}
		if c != "script"[i] && c != "SCRIPT"[i] {
			z.pos--
			goto scriptDataEscaped
		}
	}
	c = z.readByte()
	if z.eof {
		return
	}
	switch c {
	case ' ', '\n', '\r', '\t', '\f', '/', '>':
		goto scriptDataDoubleEscaped
	}
	z.pos--
	goto scriptDataEscaped

scriptDataDoubleEscaped:
	c = z.readByte()
	if z.eof {
		return
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedDash:
	c = z.readByte()
	if z.eof {
		return
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDashDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedDashDash:
	c = z.readByte()
	if z.eof {
		return
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDashDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	case '>':
		goto scriptData
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedLessThanSign:
	c = z.readByte()
	if z.eof {
		return
	}
	if c == '/' {
		goto scriptDataDoubleEscapeEnd
	}
	z.pos--
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapeEnd:
	if z.readRawEndTag() {
		z.pos += len("</script>")
		goto scriptDataEscaped
	}
	if z.eof {
		return
	}
	goto scriptDataDoubleEscaped
}

func (z *tokenizer) readComment() {
	dashCount := 0
	beginning := true
	for {
		c := z.readByte()
		if z.eof {
			return
		}
		switch c {
		case '-':
			dashCount++
			continue
		case '>':
			if dashCount >= 2 || beginning {
				return
			}
		case '!':
			if dashCount >= 2 {
				c = z.readByte()
				if z.eof {
					return
				} else if c == '>' {
					return
				} else if c == '-' {
					dashCount = 1
					beginning = false
					continue
				}
			}
		}
		dashCount = 0
		beginning = false
	}
}

func (z *tokenizer) readUntilCloseAngle() {
	k := bytes.IndexByte(z.buf[z.pos:], '>')
	if k < 0 {
		z.pos = len(z.buf)
		z.eof = true
		return
	}
	z.pos += k + 1
}

func (z *tokenizer) readMarkupDeclaration() tokenType {
	dataStart := z.pos
	var c [2]byte
	for i := 0; i < 2; i++ {
		c[i] = z.readByte()
		if z.eof {
			return tokComment
		}
	}
	if c[0] == '-' && c[1] == '-' {
		z.readComment()
		return tokComment
	}
	z.pos -= 2
	// "DOCTYPE": a doctype and a bogus comment both end at the next '>'.
	const s = "DOCTYPE"
	doctype := true
	for i := 0; i < len(s); i++ {
		c := z.readByte()
		if z.eof {
			z.eof = false
			z.pos = dataStart
			doctype = false
			break
		}
		if c != s[i] && c != s[i]+('a'-'A') {
			z.pos = dataStart
			doctype = false
			break
		}
	}
	if doctype {
		if z.skipWhiteSpace(); z.eof {
			return tokDoctype
		}
		z.readUntilCloseAngle()
		return tokDoctype
	}
	z.readUntilCloseAngle()
	return tokComment
}

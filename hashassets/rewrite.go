package hashassets

import (
	"net/url"
	"path"
	"strings"

	"golang.org/x/net/html"

	"github.com/example/release-agent/htmlrefs"
)

// rewriteRaw returns the reference raw (as written in the document) with
// its file name changed from logical's to hashed's. It inserts the hash in
// the bytes as written, so that everything else (relative form, ../,
// percent-encoding, character references, ?query, #fragment, surrounding
// whitespace) stays as it was. When the last path segment as written is
// not the plain file name (it is escaped), the segment is replaced by the
// hashed file name, percent-encoded so that it is safe in every context
// (HTML attribute, srcset, CSS url() token or string).
func rewriteRaw(raw, logical, hashed string) (string, bool) {
	// The path part ends at the first '?' or '#' (not the '#' of a
	// numeric character reference "&#46;").
	pe := pathEnd(raw)
	if pe == len(raw) {
		for pe > 0 && isSpace(raw[pe-1]) {
			pe--
		}
	}
	seg0 := strings.LastIndexByte(raw[:pe], '/') + 1
	if seg0 == 0 {
		for seg0 < pe && isSpace(raw[seg0]) {
			seg0++
		}
	}
	seg := raw[seg0:pe]
	oldBase := path.Base(logical)
	newBase := path.Base(hashed)
	if b := strings.LastIndexByte(raw[:pe], '\\') + 1; b > seg0 && raw[b:pe] == oldBase {
		// htmlrefs reads a backslash as a slash ("\css\x.css"); the plain
		// name after it is the file name (in CSS, where '\' starts an
		// escape, only "\\" or "\/" can precede a plain name that
		// resolved to oldBase).
		return raw[:b] + newBase + raw[pe:], true
	}
	if seg == oldBase {
		// The name as written is the plain file name: the hash goes in
		// before the extension and nothing else changes.
		return raw[:seg0] + newBase + raw[pe:], true
	}
	if decodeSegment(seg) == oldBase {
		return raw[:seg0] + escapeSegment(newBase) + raw[pe:], true
	}
	// The segment boundaries are unclear (an escaped slash): leave the
	// reference to the original name, which stays.
	return raw, false
}

func pathEnd(raw string) int {
	for i := 0; i < len(raw); i++ {
		if raw[i] == '?' || raw[i] == '#' && (i == 0 || raw[i-1] != '&') {
			return i
		}
	}
	return len(raw)
}

// decodeSegment undoes the escapes a path segment may be written with.
func decodeSegment(s string) string {
	if strings.Contains(s, "&") {
		s = html.UnescapeString(s)
	}
	if strings.Contains(s, `\`) {
		s = htmlrefs.UnescapeCSS(s)
	}
	if strings.ContainsAny(s, "\t\n\r") { // the URL parser drops them (htmlrefs.Clean)
		s = htmlrefs.Clean(s)
	}
	if strings.Contains(s, "%") {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// escapeSegment percent-encodes every byte outside a set that is inert in
// HTML attributes, srcset lists, CSS url() tokens and CSS strings.
func escapeSegment(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$*+=:@", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
		}
	}
	return b.String()
}

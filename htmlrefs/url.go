package htmlrefs

import (
	"bytes"
	"path"
	"strings"
)

// This file is the one resolver of references: hashassets (through
// Resolve) and validate (through Site and Base) both map a reference to a
// file of the site here, so they cannot disagree about what a link points
// to. The rules are those of the WHATWG URL parser, as browsers apply it
// to a document served over http(s), followed by the mapping of a URL
// path to a file that a static web server (nginx) makes:
//
//   - Leading and trailing C0 controls and spaces are removed, and every
//     tab, CR and LF inside (Clean).
//   - A scheme is ASCII letter, then letters, digits, '+', '-' or '.', then
//     ':' (compared in lower case). "C:\x.png" has the scheme "c": it is
//     External, as it is for a browser. Two leading slashes, in any mix of
//     '/' and '\' ("//h", "\\h", "/\h"), start a host: External, unless
//     the host and path are one of the Site's URLs.
//   - In the path of a relative or http(s) reference, '\' is '/'.
//   - The fragment starts at the first '#', the query at the first '?'
//     before it. Neither is decoded or cleaned.
//   - The path is percent-decoded before it is split into segments, as the
//     server does: "%20" is a space, "%2F" is a '/' (a separator), "%2e%2e"
//     is "..". A '\' written as "%5C" stays a '\' in the file name. Invalid
//     escapes ("%zz") stay as written. NUL, written or as "%00", stays the
//     three characters "%00": no file name holds a NUL.
//   - Empty segments ("a//b") are dropped, as servers merge slashes; "."
//     is dropped and ".." removes the segment before it. A ".." at the
//     root of the origin stays at the root, as browsers do: "/../a" is
//     "/a", and "../../a" from "x/index.html" is "a" (Target.Clamped is
//     set). A path whose last segment is "", "." or ".." names a directory
//     (Target.Dir).
//   - Finally the path, relative to the origin, must lie under the site's
//     base path ("/" unless NewSite says otherwise); Target.Path is what
//     follows it.

// Class says what a resolved reference points to.
type Class uint8

const (
	// Local: a file or directory of the site (Target.Path).
	Local Class = iota + 1
	// External: another origin or a scheme such as data: or mailto:.
	External
	// SameDocument: "" or "#frag" without a <base>: the referencing
	// document itself (Target.Path is the document).
	SameDocument
	// Outside: a path of the site's own origin outside its base path (only
	// for a Site made by NewSite with a base path other than "/").
	// Target.Path is the URL path, with its leading '/'.
	Outside
)

// Target is a reference resolved against the site.
type Target struct {
	Class Class
	// Path is slash-separated, relative to the site root, percent-decoded
	// and cleaned: for Local it never starts with '/', never has a "." or
	// ".." segment nor an empty one, and never holds a NUL byte. "" is the
	// site root.
	Path string
	// Dir is set when the reference names a directory ("docs/", "..",
	// "/"): a server answers with Path + "/index.html".
	Dir bool
	// Query and Fragment as written, with their '?' and '#'.
	Query, Fragment string
	// Scheme is the scheme, in lower case, of the URL the reference
	// resolves to when it is absolute ("https", "mailto", "c" for
	// "C:\x.png"), also through an absolute <base href>; "" for relative
	// and protocol-relative references.
	Scheme string
	// Clamped is set when ".." segments climbed above the origin's root
	// and were dropped there.
	Clamped bool
}

// Site says where a site's files are served. The zero value (and nil) is a
// site served at the root of an origin no URL names: every absolute or
// protocol-relative reference is External. A Site is read-only and safe for
// concurrent use.
type Site struct {
	basePath string // "/" or "/docs/"; "" is "/"
	urls     []siteURL
}

type siteURL struct {
	host string // "example.com" or "example.com:8080", as given
	path string // "/" or "/docs/"
}

// NewSite returns the Site served under the URL path basePath ("" or "/"
// for the root, "/docs/" for a subdirectory), reachable also through the
// absolute URLs urls ("https://example.com/docs/", with or without the
// scheme): an http, https or protocol-relative reference whose host equals
// one of them (ignoring case) and whose path lies under its path resolves
// to the URL path it names, as a root-relative reference would.
func NewSite(basePath string, urls ...string) *Site {
	s := &Site{basePath: slashDir(basePath)}
	for _, u := range urls {
		if i := strings.Index(u, "//"); i >= 0 {
			u = u[i+2:]
		}
		host, p := u, "/"
		if i := strings.IndexByte(u, '/'); i >= 0 {
			host, p = u[:i], u[i:]
		}
		s.urls = append(s.urls, siteURL{host: host, path: slashDir(p)})
	}
	return s
}

// slashDir returns p with a leading and a trailing slash.
func slashDir(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// BasePath returns the URL path the site is served under, "/" or like
// "/docs/".
func (s *Site) BasePath() string {
	if s == nil || s.basePath == "" {
		return "/"
	}
	return s.basePath
}

// Base is the base URL the references of one document resolve against:
// the document's own URL, or its <base href>. Make it with Site.Base; it
// is read-only and safe for concurrent use.
type Base struct {
	site     *Site
	doc      string // the document, relative to the site root
	path     string // URL path of the base, from the origin's root
	dir      int    // path[:dir] is its directory, ending in '/'
	href     bool   // the document has a <base href>
	external bool   // the base is another origin or scheme
	scheme   string // of an external base
}

// Base returns the base URL of the document docPath (relative to the site
// root, such as "library/os.html") whose first <base href> is href ("" if
// none). A base that is another origin (or a scheme other than http and
// https) makes every relative reference External.
func (s *Site) Base(docPath, href string) Base {
	bp := s.BasePath()
	// docPath is a file path, not a URL: cleaned but not decoded (a NUL,
	// which no file name holds, is "%00" as in references).
	b := Base{site: s, doc: docPath, path: bp[:len(bp)-1] + strings.ReplaceAll(path.Clean("/"+docPath), "\x00", "%00")}
	b.dir = strings.LastIndexByte(b.path, '/') + 1
	if href = Clean(href); href == "" {
		return b
	}
	t := b.Resolve(href)
	b.href = true
	switch t.Class {
	case External:
		b.external, b.scheme = true, t.Scheme
		return b
	case Outside:
		b.path = t.Path
	case Local:
		switch {
		case t.Path == "" && !t.Dir: // "/docs" for "/docs/": its directory is "/"
			b.path = bp[:len(bp)-1]
		case t.Dir && t.Path != "":
			b.path = bp + t.Path + "/"
		default:
			b.path = bp + t.Path
		}
	}
	b.dir = strings.LastIndexByte(b.path, '/') + 1
	return b
}

// Resolve resolves ref (a Ref's Value) found in the document docPath (a
// path relative to the site root, such as "library/os.html") whose <base
// href> is base ("" if none), for a site served at the root of an origin
// no URL names. It is Site.Base(docPath, base).Resolve(ref) with the zero
// Site; see the top of url.go for the rules.
func Resolve(docPath, base, ref string) Target {
	b := (*Site)(nil).Base(docPath, base)
	return b.Resolve(ref)
}

// Resolve resolves ref (a Ref's Value, or an attribute value as written:
// it is cleaned as the URL parser cleans it) against the base b. Besides
// cleaning a tab or newline out of ref and lower-casing a scheme written
// with capitals, it allocates at most once (for Path), and not at all for
// a root-relative path that needs no decoding or cleaning.
func (b *Base) Resolve(ref string) Target {
	ref = Clean(ref)
	p, q, f := SplitURL(ref)
	if n := schemeLen(p); n > 0 {
		scheme := lowerScheme(p[:n])
		if scheme != "http" && scheme != "https" {
			return Target{Class: External, Scheme: scheme}
		}
		return b.absolute(scheme, p[n+1:], q, f)
	}
	if len(p) >= 2 && isSlash(p[0]) && isSlash(p[1]) {
		if b.external {
			return b.absolute(b.scheme, p, q, f)
		}
		return b.absolute("", p, q, f)
	}
	if b.external {
		return Target{Class: External, Scheme: b.scheme}
	}
	t := Target{Query: q, Fragment: f}
	if p == "" {
		if !b.href && q == "" {
			t.Class, t.Path = SameDocument, b.doc
			return t
		}
		return b.site.local(b.path, false, t)
	}
	if isSlash(p[0]) {
		if p[0] == '/' && plainPath(p[1:]) {
			return b.site.local(p, false, t)
		}
		abs, clamped := normalize("/", p[1:])
		return b.site.local(abs, clamped, t)
	}
	if plainPath(p) {
		return b.site.local(b.path[:b.dir]+p, false, t)
	}
	abs, clamped := normalize(b.path[:b.dir], p)
	return b.site.local(abs, clamped, t)
}

// absolute resolves the http(s) or protocol-relative URL whose text after
// the scheme's ':' is rest: Local if one of the site's URLs names it.
func (b *Base) absolute(scheme, rest, q, f string) Target {
	ext := Target{Class: External, Scheme: scheme}
	var urls []siteURL
	if b.site != nil {
		urls = b.site.urls
	}
	if len(urls) == 0 {
		return ext
	}
	for len(rest) > 0 && isSlash(rest[0]) { // special URLs ignore any slashes here
		rest = rest[1:]
	}
	host, p := rest, ""
	if i := strings.IndexAny(rest, `/\`); i >= 0 {
		host, p = rest[:i], rest[i+1:]
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	abs, clamped := "", false
	for _, u := range urls {
		if !strings.EqualFold(host, u.host) {
			continue
		}
		if abs == "" {
			abs, clamped = normalize("/", p)
		}
		if strings.HasPrefix(abs, u.path) || abs+"/" == u.path {
			return b.site.local(abs, clamped, Target{Query: q, Fragment: f, Scheme: scheme})
		}
	}
	return ext
}

// local completes t for the absolute URL path abs (from the origin's
// root, cleaned, ending in '/' for a directory).
func (s *Site) local(abs string, clamped bool, t Target) Target {
	t.Clamped = clamped
	bp := s.BasePath()
	dir := abs[len(abs)-1] == '/'
	switch {
	case strings.HasPrefix(abs, bp):
		t.Class, t.Path, t.Dir = Local, abs[len(bp):], dir
		if dir && t.Path != "" {
			t.Path = t.Path[:len(t.Path)-1]
		}
	case abs+"/" == bp: // "/docs" for "/docs/": the server redirects
		t.Class, t.Path = Local, ""
	default:
		t.Class, t.Path, t.Dir = Outside, abs, dir
	}
	return t
}

// plainPath reports whether the relative path p needs no decoding nor
// cleaning: no '%', '\' or NUL, and no empty, "." or ".." segment except
// an empty last one (a trailing slash).
func plainPath(p string) bool {
	seg := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\', 0:
			return false
		case '/':
			if isDots(p[seg:i]) {
				return false
			}
			seg = i + 1
		}
	}
	return seg == len(p) && seg > 0 || !isDots(p[seg:])
}

// isDots reports "", "." and "..".
func isDots(s string) bool { return s == "" || s == "." || s == ".." }

// normalize appends the relative path p to prefix (an absolute, cleaned
// directory path ending in '/'), percent-decoding it and removing dot and
// empty segments (see the top of this file). The result ends in '/' when
// p names a directory; clamped reports ".." segments dropped at the root.
func normalize(prefix, p string) (abs string, clamped bool) {
	buf := make([]byte, 0, len(prefix)+len(p)+1)
	buf = append(buf, prefix...)
	seg := len(buf) // start of the current segment, after a '/'
	for i := 0; ; {
		end := i == len(p)
		c, n := byte(0), 1
		if !end {
			c = p[i]
			if d, ok := PercentByteAt(p, i); ok && d != 0 {
				c, n = d, 3
			}
		}
		if !end && c != '/' && !(c == '\\' && n == 1) {
			if c == 0 {
				buf = append(buf, "%00"...)
			} else {
				buf = append(buf, c)
			}
			i += n
			continue
		}
		switch s := buf[seg:]; {
		case len(s) == 0:
		case len(s) == 1 && s[0] == '.':
			buf = buf[:seg]
		case len(s) == 2 && s[0] == '.' && s[1] == '.':
			if seg <= 1 {
				clamped = true
				buf = buf[:seg]
			} else {
				buf = buf[:bytes.LastIndexByte(buf[:seg-1], '/')+1]
			}
		default:
			if !end {
				buf = append(buf, '/')
			}
		}
		if end {
			break
		}
		seg = len(buf)
		i += n
	}
	return string(buf), clamped
}

// SplitURL splits a reference into its path, its query (with the leading
// '?', or "") and its fragment (with the leading '#', or ""). Nothing is
// decoded or cleaned: Resolve cleans first (see Clean).
func SplitURL(ref string) (p, query, fragment string) {
	if i := strings.IndexByte(ref, '#'); i >= 0 {
		ref, fragment = ref[:i], ref[i:]
	}
	if i := strings.IndexByte(ref, '?'); i >= 0 {
		ref, query = ref[:i], ref[i:]
	}
	return ref, query, fragment
}

// IsExternal reports whether ref, once cleaned, has a scheme ("https:",
// "data:", "mailto:", "javascript:", also "C:") or is protocol-relative
// ("//host/x", and the backslash forms browsers accept: "\\host", "/\host").
// Resolve makes such a reference External unless a Site's URL names it.
func IsExternal(ref string) bool {
	p, _, _ := SplitURL(Clean(ref))
	return schemeLen(p) > 0 || len(p) >= 2 && isSlash(p[0]) && isSlash(p[1])
}

// IsEmpty reports whether ref is empty once cleaned (Clean(ref) == ""),
// without allocating.
func IsEmpty(ref string) bool {
	for i := 0; i < len(ref); i++ {
		if ref[i] > ' ' {
			return false
		}
	}
	return true
}

// Clean returns ref as the URL parser reads it: without leading and
// trailing C0 controls and spaces (bytes up to 0x20), and without any tab,
// CR or LF. It allocates only when a tab, CR or LF is inside.
func Clean(ref string) string {
	i, j := 0, len(ref)
	for i < j && ref[i] <= ' ' {
		i++
	}
	for j > i && ref[j-1] <= ' ' {
		j--
	}
	ref = ref[i:j]
	for k := 0; k < len(ref); k++ {
		if c := ref[k]; c == '\t' || c == '\n' || c == '\r' {
			b := make([]byte, 0, len(ref))
			for k := 0; k < len(ref); k++ {
				if c := ref[k]; c != '\t' && c != '\n' && c != '\r' {
					b = append(b, c)
				}
			}
			return string(b)
		}
	}
	return ref
}

// FileName returns the last path segment of ref as written (after the
// last '/' or '\' before any '?' or '#'), and whether it is literal: when
// it is, the Path of a Local, non-Dir Target that Resolve makes of ref
// ends in this name (or is "", the root: "/docs" for a site under
// "/docs/"); when it holds '%' or a byte up to 0x20 (which
// cleaning or decoding may change), it is not literal. It lets a caller
// skip resolving references that cannot name a file it cares about.
func FileName(ref string) (name string, literal bool) {
	p, _, _ := SplitURL(ref)
	name = p[strings.LastIndexAny(p, `/\`)+1:]
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c == '%' {
			return name, false
		}
	}
	return name, true
}

// schemeLen returns the length of the scheme at the start of p (followed
// by ':'), or 0.
func schemeLen(p string) int {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return 0
		}
	}
	return 0
}

// lowerScheme lower-cases a scheme, allocating only when it has capitals.
func lowerScheme(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func isSlash(c byte) bool { return c == '/' || c == '\\' }

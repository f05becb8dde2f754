package htmlrefs

import (
	"net/url"
	"path"
	"strings"
)

// SplitURL splits a reference into its path, its query (with the leading
// '?', or "") and its fragment (with the leading '#', or ""). Nothing is
// decoded.
func SplitURL(ref string) (p, query, fragment string) {
	if i := strings.IndexByte(ref, '#'); i >= 0 {
		ref, fragment = ref[:i], ref[i:]
	}
	if i := strings.IndexByte(ref, '?'); i >= 0 {
		ref, query = ref[:i], ref[i:]
	}
	return ref, query, fragment
}

// IsExternal reports whether ref names something outside the site: it has
// a scheme ("https:", "data:", "mailto:", "javascript:", also "C:") or is
// protocol-relative ("//host/x", and the backslash forms browsers accept).
func IsExternal(ref string) bool {
	ref = cleanRef(ref)
	if len(ref) >= 2 && (ref[0] == '/' || ref[0] == '\\') && (ref[1] == '/' || ref[1] == '\\') {
		return true
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

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
)

// Target is a reference resolved against the site.
type Target struct {
	Class Class
	// Path is slash-separated, relative to the site root, percent-decoded
	// and cleaned (never above the root: "../" at the root stays at the
	// root, as in browsers). "" is the site root.
	Path string
	// Dir is set when the reference names a directory ("docs/", "..",
	// "/"): a server answers with Path + "/index.html".
	Dir bool
	// Query and Fragment as written, with their '?' and '#'.
	Query, Fragment string
}

// Resolve resolves ref (a Ref's Value) found in the document docPath (a
// path relative to the site root, such as "library/os.html") whose <base
// href> is base ("" if none). Root-relative references resolve against
// the site root. A base with a scheme or host makes every relative
// reference External, since it cannot be known to name this site.
func Resolve(docPath, base, ref string) Target {
	ref = cleanRef(ref)
	if IsExternal(ref) {
		return Target{Class: External}
	}
	basePath := "/" + docPath
	if base = cleanRef(base); base != "" {
		if IsExternal(base) {
			return Target{Class: External}
		}
		bp, _, _ := SplitURL(base)
		if bp != "" {
			basePath = join(basePath, bp)
		}
	}
	p, q, f := SplitURL(ref)
	t := Target{Class: Local, Query: q, Fragment: f}
	if p == "" {
		if base == "" && q == "" {
			t.Class = SameDocument
			t.Path = docPath
			return t
		}
		t.Path = strings.TrimPrefix(basePath, "/")
		t.Dir = strings.HasSuffix(basePath, "/")
		t.Path = strings.TrimSuffix(t.Path, "/")
		return t
	}
	abs := join(basePath, p)
	t.Dir = strings.HasSuffix(abs, "/")
	t.Path = strings.Trim(abs, "/")
	return t
}

// join resolves the path reference p against the absolute path basePath
// and returns a cleaned, percent-decoded absolute path that keeps a
// trailing slash when p names a directory.
func join(basePath, p string) string {
	p = strings.ReplaceAll(p, `\`, "/")
	if dp, err := url.PathUnescape(p); err == nil {
		p = dp
	}
	var abs string
	if strings.HasPrefix(p, "/") {
		abs = p
	} else {
		abs = basePath[:strings.LastIndexByte(basePath, '/')+1] + p
	}
	dir := strings.HasSuffix(abs, "/") || strings.HasSuffix(abs, "/.") || strings.HasSuffix(abs, "/..")
	abs = path.Clean(abs)
	if dir && abs != "/" {
		abs += "/"
	}
	return abs
}

// cleanRef removes what the URL parser removes: leading and trailing C0
// controls and spaces, and every tab and newline.
func cleanRef(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(s, "\t\n\r") {
		s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
	}
	return s
}

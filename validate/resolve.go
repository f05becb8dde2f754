package validate

import (
	"io/fs"
	"net/url"
	"path"
	"strings"
	"sync"
)

// tree is the index of one file tree: every file and directory path, built
// by one walk. It is read-only once built and safe for concurrent use.
type tree struct {
	fsys  fs.FS
	files map[string]int32 // file path → index into paths
	paths []string
	sizes []int64
	dirs  map[string]bool // "" is the root

	lowerOnce sync.Once
	lower     map[string]string // lowercased path → real path (files and dirs)
}

// maxLinkDepth bounds how many symlinked directories deep buildTree
// descends (symlink cycles end there).
const maxLinkDepth = 4

func buildTree(fsys fs.FS) (*tree, error) {
	t := &tree{fsys: fsys, files: map[string]int32{}, dirs: map[string]bool{"": true}}
	return t, t.walk(".", 0)
}

// walk indexes the tree under root. A symlink to a directory is descended
// (web servers follow symlinks), up to maxLinkDepth levels.
func (t *tree) walk(root string, depth int) error {
	return fs.WalkDir(t.fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if d.IsDir() {
			t.dirs[p] = true
			return nil
		}
		var size int64
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				size = info.Size()
			}
		} else { // a symlink: followed as the web server does
			info, err := fs.Stat(t.fsys, p)
			if err != nil {
				return nil // dangling: the server answers 404, so it is not a target
			}
			if info.IsDir() {
				t.dirs[p] = true
				if p == root || depth >= maxLinkDepth || t.linksToAncestor(p) {
					return nil
				}
				return t.walk(p, depth+1)
			}
			size = info.Size()
		}
		t.files[p] = int32(len(t.paths))
		t.paths = append(t.paths, p)
		t.sizes = append(t.sizes, size)
		return nil
	})
}

// linksToAncestor reports whether the symlink p points at one of its own
// ancestors (a loop such as "a -> ." or "a/b -> .."), which is not
// descended.
func (t *tree) linksToAncestor(p string) bool {
	rl, ok := t.fsys.(fs.ReadLinkFS)
	if !ok {
		return false
	}
	target, err := rl.ReadLink(p)
	if err != nil || path.IsAbs(target) {
		return false
	}
	r := path.Join(path.Dir(p), target)
	return r == "." || r == ".." || strings.HasPrefix(r, "../") || strings.HasPrefix(p, r+"/")
}

func (t *tree) isFile(p string) bool { _, ok := t.files[p]; return ok }

// caseMatch returns the path in the tree that equals p ignoring case, or "".
func (t *tree) caseMatch(p string) string {
	t.lowerOnce.Do(func() {
		t.lower = make(map[string]string, len(t.paths)+len(t.dirs))
		for _, q := range t.paths {
			t.lower[strings.ToLower(q)] = q
		}
		for q := range t.dirs {
			t.lower[strings.ToLower(q)] = q
		}
	})
	return t.lower[strings.ToLower(p)]
}

// outcome classifies one resolved reference.
type outcome uint8

const (
	resOK       outcome = iota // a file of the tree (target set)
	resExternal                // http(s) or protocol-relative URL outside the site
	resOther                   // mailto:, tel:, data:, javascript: and other schemes: not checked
	resEmpty                   // empty or blank reference
	resMissing                 // no such file (reason says why, with hints)
	resOutside                 // leaves the tree or the site's base path
)

// resolved is the outcome of resolving one reference.
type resolved struct {
	out     outcome
	target  string // tree path of the file (resOK) or the path that was looked for
	frag    string // fragment as written, without '#'
	hasFrag bool
	reason  string // for resMissing / resOutside
}

// docBase is the base URL relative references of a page resolve against.
type docBase struct {
	dir      string // directory in the tree ("" = root)
	doc      string // the document itself: a tree path, or a directory path ending in "/"
	external bool   // <base href> points outside the site: relative refs are external
}

// resolver resolves references the way the web server will serve them.
type resolver struct {
	t          *tree
	indexNames []string
	pretty     bool
	dirNoSlash bool
	basePath   string   // "/" or "/docs/"
	siteURLs   []string // absolute URL prefixes that are this site, each ending in "/"
}

func isScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// trimSpace trims ASCII whitespace as the URL parser of HTML does.
func trimSpace(s string) string { return strings.Trim(s, " \t\n\f\r") }

// splitScheme returns the scheme of an absolute URL (lowercased), or "".
func splitScheme(v string) string {
	i := strings.IndexAny(v, ":/?#")
	if i <= 0 || v[i] != ':' || !isScheme(v[:i]) {
		return ""
	}
	return strings.ToLower(v[:i])
}

// local maps an absolute URL (with scheme or protocol-relative) that falls
// under one of the site URLs to its URL path ("/docs/a.html"); ok is false
// otherwise. Scheme and host compare case-insensitively.
func (r *resolver) local(v string) (string, bool) {
	hostPath := func(u string) string { // "https://h/p" and "//h/p" → "h/p"
		if i := strings.Index(u, "//"); i >= 0 {
			return u[i+2:]
		}
		return u
	}
	hv := hostPath(v)
	for _, s := range r.siteURLs {
		hs := hostPath(s) // "example.com/docs/"
		host := hs
		if i := strings.IndexByte(hs, '/'); i >= 0 {
			host = hs[:i]
		}
		if len(hv) < len(host) || !strings.EqualFold(hv[:len(host)], host) {
			continue
		}
		rest := hv[len(host):]
		if rest == "" {
			rest = "/"
		}
		if rest[0] != '/' && rest[0] != '?' && rest[0] != '#' {
			continue // a longer host name
		}
		if rest[0] != '/' {
			rest = "/" + rest
		}
		if sp := hs[len(host):]; sp != "" && !strings.HasPrefix(rest, sp) && rest+"/" != sp {
			continue
		}
		return rest, true
	}
	return "", false
}

// base computes the document base of a page from its <base href>, if any.
func (r *resolver) base(page, href string) docBase {
	b := docBase{dir: path.Dir(page), doc: page}
	if b.dir == "." {
		b.dir = ""
	}
	if href = trimSpace(href); href == "" {
		return b
	}
	if splitScheme(href) != "" || strings.HasPrefix(href, "//") {
		p, ok := r.local(href)
		if !ok {
			return docBase{external: true}
		}
		href = p
	}
	if i := strings.IndexAny(href, "?#"); i >= 0 {
		href = href[:i]
	}
	p, reason := r.treePath(b, href)
	if reason != "" {
		return docBase{external: true}
	}
	if strings.HasSuffix(href, "/") || href == "" {
		b.dir, b.doc = p, p+"/"
		if p == "" {
			b.doc = "/"
		}
		return b
	}
	b.dir, b.doc = path.Dir(p), p
	if b.dir == "." {
		b.dir = ""
	}
	return b
}

// treePath turns a decoded URL path into a clean tree path ("" = root), or
// returns a reason why it leaves the tree.
func (r *resolver) treePath(b docBase, p string) (string, string) {
	if dp, err := url.PathUnescape(p); err == nil {
		p = dp
	}
	var joined string
	if strings.HasPrefix(p, "/") {
		if r.basePath != "/" {
			bp := r.basePath
			if p+"/" == bp {
				p = bp
			}
			if !strings.HasPrefix(p, bp) {
				return "", "outside the site's base path " + bp
			}
			p = p[len(bp)-1:]
		}
		joined = path.Clean(p)
		return strings.TrimPrefix(joined, "/"), ""
	}
	joined = path.Clean(b.dir + "/" + p)
	if b.dir == "" {
		joined = path.Clean(p)
	}
	if joined == ".." || strings.HasPrefix(joined, "../") {
		return "", "leaves the tree"
	}
	if joined == "." {
		joined = ""
	}
	return joined, ""
}

// resolve resolves a reference as written in a page (raw attribute value)
// against the page's base.
func (r *resolver) resolve(b docBase, raw string) resolved {
	v := trimSpace(raw)
	if v == "" {
		return resolved{out: resEmpty, reason: "empty reference"}
	}
	if strings.ContainsAny(v, "\t\n\r") { // the URL parser drops them anywhere
		v = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, v)
	}
	if s := splitScheme(v); s != "" || strings.HasPrefix(v, "//") {
		switch s {
		case "", "http", "https":
			p, ok := r.local(v)
			if !ok {
				return resolved{out: resExternal}
			}
			v = p
		case "file":
			return resolved{out: resOutside, reason: "file: URL points into the author's disk, not the site"}
		default:
			return resolved{out: resOther}
		}
	}
	var res resolved
	if i := strings.IndexByte(v, '#'); i >= 0 {
		res.frag, res.hasFrag = v[i+1:], true
		v = v[:i]
	}
	if i := strings.IndexByte(v, '?'); i >= 0 {
		v = v[:i]
	}
	if strings.IndexByte(v, '\\') >= 0 { // browsers read "\\" as "/" in http(s) URLs
		v = strings.ReplaceAll(v, "\\", "/")
	}
	if b.external {
		return resolved{out: resExternal}
	}
	if v == "" { // same document (or the <base> document)
		if strings.HasSuffix(b.doc, "/") {
			v = b.doc
			if v != "/" {
				v = "/" + v
			}
			return r.lookup(res, r.mustTree(b, v), true, v)
		}
		res.out, res.target = resOK, b.doc
		return res
	}
	p, reason := r.treePath(b, v)
	if reason != "" {
		res.out, res.reason, res.target = resOutside, reason, ""
		return res
	}
	return r.lookup(res, p, strings.HasSuffix(v, "/"), v)
}

func (r *resolver) mustTree(b docBase, v string) string {
	p, _ := r.treePath(b, v)
	return p
}

// lookup finds the file served for tree path p. dirWanted is true when the
// URL ends in "/". v is the URL path as written, for hints.
func (r *resolver) lookup(res resolved, p string, dirWanted bool, v string) resolved {
	t := r.t
	res.target = p
	if !dirWanted && t.isFile(p) {
		res.out = resOK
		return res
	}
	if t.dirs[p] {
		if !dirWanted && !r.dirNoSlash && !(r.pretty && t.isFile(p+".html")) {
			res.out, res.reason = resMissing, "is a directory: the link lacks a trailing slash"
			return res
		}
		for _, n := range r.indexNames {
			q := path.Join(p, n)
			if t.isFile(q) {
				res.out, res.target = resOK, q
				return res
			}
		}
		if r.pretty && !dirWanted && t.isFile(p+".html") {
			res.out, res.target = resOK, p+".html"
			return res
		}
		res.out = resMissing
		res.reason = "directory has no index (" + strings.Join(r.indexNames, ", ") + ")"
		if p == "" {
			res.target = "/"
		} else {
			res.target = p + "/"
		}
		return res
	}
	if r.pretty && p != "" {
		if q := p + ".html"; t.isFile(q) {
			res.out, res.target = resOK, q
			return res
		}
	}
	res.out = resMissing
	res.reason = r.missingReason(p, dirWanted, v)
	return res
}

func (r *resolver) missingReason(p string, dirWanted bool, v string) string {
	t := r.t
	if dirWanted && t.isFile(p) {
		return "target is a file, but the link ends in a slash"
	}
	if q := t.caseMatch(p); q != "" && q != p {
		return "wrong case: the tree has " + q + " (works on a case-insensitive filesystem such as macOS, broken on Linux servers)"
	}
	if t.isFile(p + ".gz") {
		return "target does not exist (only " + p + ".gz, a compressed copy, is in the tree)"
	}
	if i := strings.IndexByte(v, '@'); i > 0 && !strings.Contains(v, "/") && strings.Contains(v[i:], ".") {
		return "target does not exist (looks like an e-mail address: missing mailto:?)"
	}
	return "target does not exist"
}

package validate

import (
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/example/release-agent/htmlrefs"
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
	resOutside                 // outside the site's base path, or a file: URL or Windows path
)

// resolved is the outcome of resolving one reference.
type resolved struct {
	out     outcome
	target  string // tree path of the file (resOK) or the path that was looked for
	frag    string // fragment as written, without '#'
	hasFrag bool
	reason  string // for resMissing / resOutside
}

// resolver resolves references the way the web server will serve them:
// htmlrefs maps a reference to a path of the site (the one set of URL
// rules, shared with hashassets), and the resolver maps that path to the
// file the server answers with (index names, pretty URLs, directories).
type resolver struct {
	t          *tree
	indexNames []string
	pretty     bool
	dirNoSlash bool
	site       *htmlrefs.Site // base path and site URLs
}

// base computes the base URL of a page from its <base href>, if any.
func (r *resolver) base(page, href string) htmlrefs.Base { return r.site.Base(page, href) }

// resolve resolves a reference as written in a page (raw attribute value)
// against the page's base.
func (r *resolver) resolve(b *htmlrefs.Base, raw string) resolved {
	if htmlrefs.IsEmpty(raw) {
		return resolved{out: resEmpty, reason: "empty reference"}
	}
	t := b.Resolve(raw)
	var res resolved
	if t.Fragment != "" {
		res.frag, res.hasFrag = t.Fragment[1:], true
	}
	switch t.Class {
	case htmlrefs.External:
		switch {
		case t.Scheme == "" || t.Scheme == "http" || t.Scheme == "https":
			return resolved{out: resExternal}
		case t.Scheme == "file":
			return resolved{out: resOutside, reason: "file: URL points into the author's disk, not the site"}
		case len(t.Scheme) == 1:
			return resolved{out: resOutside, reason: "a Windows path (" + strings.ToUpper(t.Scheme) + ":) points into the author's disk, not the site"}
		}
		return resolved{out: resOther}
	case htmlrefs.Outside:
		return resolved{out: resOutside, reason: "outside the site's base path " + r.site.BasePath()}
	case htmlrefs.SameDocument:
		res.out, res.target = resOK, t.Path
		return res
	}
	return r.lookup(res, t, raw)
}

// lookup finds the file served for the Local target tg. raw is the
// reference as written, for hints.
func (r *resolver) lookup(res resolved, tg htmlrefs.Target, raw string) resolved {
	t := r.t
	p, dirWanted := tg.Path, tg.Dir
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
	res.reason = r.missingReason(p, dirWanted, tg.Clamped, raw)
	return res
}

func (r *resolver) missingReason(p string, dirWanted, clamped bool, raw string) string {
	t := r.t
	if clamped {
		return "leaves the tree: browsers stop at the site root, where " + p + " does not exist"
	}
	if dirWanted && t.isFile(p) {
		return "target is a file, but the link ends in a slash"
	}
	if q := t.caseMatch(p); q != "" && q != p {
		return "wrong case: the tree has " + q + " (works on a case-insensitive filesystem such as macOS, broken on Linux servers)"
	}
	if t.isFile(p + ".gz") {
		return "target does not exist (only " + p + ".gz, a compressed copy, is in the tree)"
	}
	if i := strings.IndexByte(p, '@'); i > 0 && !strings.ContainsAny(raw, `/\`) && strings.Contains(p[i:], ".") {
		return "target does not exist (looks like an e-mail address: missing mailto:?)"
	}
	return "target does not exist"
}

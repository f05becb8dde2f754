package hashassets

import (
	"io/fs"
	"log/slog"
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// DefaultInclude matches the assets hashed by default: style sheets,
// scripts and their source maps, images, fonts, media, WebAssembly.
var DefaultInclude = []string{
	"**/*.{css,js,mjs,map}",
	"**/*.{png,jpg,jpeg,gif,webp,avif,svg,ico,bmp,cur,jxl}",
	"**/*.{woff,woff2,ttf,otf,eot}",
	"**/*.{mp4,webm,ogv,ogg,mp3,m4a,aac,wav,flac,opus,vtt}",
	"**/*.wasm",
}

// DefaultExclude matches names that must stay stable even though they
// look like assets: they are fetched by name by browsers, crawlers or
// service worker registrations.
var DefaultExclude = []string{
	"**/favicon.ico",
	"**/apple-touch-icon*",
	"**/android-chrome-*",
	"**/mstile-*",
	"**/safari-pinned-tab.svg",
	"**/robots.txt",
	"**/sitemap*.xml",
	"**/*.webmanifest",
	"**/manifest.json",
	"**/browserconfig.xml",
	"**/sw.js",
	"**/service-worker.js",
	"**/serviceworker.js",
	"**/*-sw.js",
	"**/*.sw.js",
	"**/OneSignalSDK*.js",
	".well-known/**",
}

// Options configure Hash. The zero value hashes with the defaults.
type Options struct {
	// Include and Exclude are doublestar globs over slash paths relative
	// to the site root. nil means DefaultInclude / DefaultExclude; to add
	// to the defaults, append to a copy of them.
	Include, Exclude []string
	// DataAttrs are data-* attributes holding references (see
	// htmlrefs.Options).
	DataAttrs []string
	// Workers bounds parallel reading and rewriting; 0 means GOMAXPROCS.
	Workers int
	// Logger receives debug records; nil means slog.Default().
	Logger *slog.Logger
	// InPlace lets HashDir rewrite a page in place (open, write, truncate)
	// when it has exactly one link, instead of writing a temporary file
	// and renaming it over the page. Only for a tree private to the caller
	// (a staging directory) that is discarded on failure: a reader could
	// see a partly written page, and a crash leaves one.
	InPlace bool
	// Files, if not nil, lists the regular files of the tree (slash paths
	// relative to its root) and Hash does not walk it: the caller already
	// knows them, as the pipeline does from the manifest it made while
	// extracting. A file missing from the list is neither hashed nor
	// rewritten. (Walking an os.Root costs an lstat per file.)
	Files []string
	// Reuse, if set, is called (possibly concurrently) with the final
	// digest of each page and rewritten asset (its hashed and its original
	// name) before Hash writes it. If it returns true, the callee has
	// already put a file with exactly those bytes and mode at name
	// (typically a hard link to an equal file of the live release) and
	// Hash does not write it.
	Reuse func(name string, sum [32]byte, size int64, mode fs.FileMode) (bool, error)
}

// ValidateGlobs reports the first malformed pattern of o, naming it.
func (o *Options) ValidateGlobs() error {
	for _, set := range [][]string{o.Include, o.Exclude} {
		for _, p := range set {
			if !doublestar.ValidatePattern(p) {
				return &GlobError{Pattern: p}
			}
		}
	}
	return nil
}

// GlobError is a malformed include or exclude pattern.
type GlobError struct{ Pattern string }

func (e *GlobError) Error() string { return "hashassets: malformed glob pattern " + quote(e.Pattern) }

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func matchAny(patterns []string, p string) bool {
	lp := strings.ToLower(p)
	for _, pat := range patterns {
		if doublestar.MatchUnvalidated(pat, p) || lp != p && doublestar.MatchUnvalidated(pat, lp) {
			return true
		}
	}
	return false
}

// isPage reports whether p is an HTML page (never hashed, rewritten).
func isPage(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".html", ".htm", ".xhtml":
		return true
	}
	return false
}

// BuildHashed reports whether the file name (the last element of p)
// already carries a content hash, so hashing it again would only add a
// second one. The rule: strip the last extension; the stem ends with a
// separator ('.', '-' or '_') followed by a token that is
//
//   - 8 to 64 characters of [0-9A-Za-z] containing at least one digit and
//     one letter ("main.3f2a9c1b.js", "app-4f8a2c9b1d.css",
//     "index.a1b2c3d4e5.css" as this package writes it), or
//   - 8 to 64 hex digits ("chunk.12345678.js"), or
//   - exactly 8 characters after a '-', of [0-9A-Za-z_-] with a digit, or
//     with both upper and lower case letters, or all upper case letters
//     (Vite/Rollup "index-BxY7z9Qa.js", "vendor-B-x_7z9Q.js", esbuild
//     "chunk-ABCDEFGH.js").
//
// Words do not qualify: "jquery-migrate.js", "opensans-semibold.woff",
// "bootstrap.min.css", "jquery-3.6.0.js".
func BuildHashed(p string) bool {
	base := path.Base(p)
	stem := strings.TrimSuffix(base, path.Ext(base))
	if stem == "" {
		return false
	}
	// Vite/Rollup/esbuild: "-" + 8 chars that may include '-' and '_'.
	if len(stem) > 9 && stem[len(stem)-9] == '-' {
		tok := stem[len(stem)-8:]
		if viteToken(tok) {
			return true
		}
	}
	i := strings.LastIndexAny(stem, ".-_")
	if i <= 0 {
		return false
	}
	tok := stem[i+1:]
	if len(tok) < 8 || len(tok) > 64 {
		return false
	}
	digit, letter, hex := false, false, true
	for j := 0; j < len(tok); j++ {
		c := tok[j]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letter = true
			if !(c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				hex = false
			}
		default:
			return false
		}
	}
	ours := hex && len(tok) == 10 && stem[i] == '.' && strings.ToLower(tok) == tok
	return digit && letter || hex && digit || ours
}

func viteToken(tok string) bool {
	digit, upper, lower := false, false, false
	for j := 0; j < len(tok); j++ {
		c := tok[j]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c == '-' || c == '_':
		default:
			return false
		}
	}
	return digit || upper && lower || upper && !lower && !strings.ContainsAny(tok, "-_")
}

// HashedName returns the hashed name of p for the hex digest h:
// "dir/name.<h[:10]>.ext" ("dir/name.<h[:10]>" without an extension).
func HashedName(p, h string) string {
	h = h[:10]
	dir, base := path.Split(p)
	ext := path.Ext(base)
	if ext == base { // ".htaccess"-like names: no stem
		ext = ""
	}
	return dir + strings.TrimSuffix(base, ext) + "." + h + ext
}

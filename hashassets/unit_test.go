package hashassets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestBuildHashed(t *testing.T) {
	yes := []string{"main.3f2a9c1b.js", "app-4f8a2c9b1d.css", "index-BxY7z9Qa.js", "vendor-B-x_7z9Q.js",
		"chunk-ABCDEFGH.js", "chunk.12345678.js", "a/b/index.a1b2c3d4e5.css", "x.abcdefabcd.png", "runtime~main.0a1b2c3d4e5f6a7b.js"}
	no := []string{"jquery-migrate.js", "opensans-semibold.woff", "bootstrap.min.css", "jquery-3.6.0.js", "sphinx_highlight.js",
		"underscore-1.13.1.js", "index.js", "fa-brands-400.woff2", "KaTeX_Size1-Regular.woff2", "roboto-v20-latin.woff2",
		"README", "documentation_options.js", "x.ABCDEFABCD.png"}
	for _, p := range yes {
		if !BuildHashed(p) {
			t.Errorf("BuildHashed(%q) = false, want true", p)
		}
	}
	for _, p := range no {
		if BuildHashed(p) {
			t.Errorf("BuildHashed(%q) = true, want false", p)
		}
	}
}

func TestDefaultGlobs(t *testing.T) {
	m := fstest.MapFS{
		"a.CSS": {Data: []byte("x")}, "favicon.ico": {Data: []byte("i")}, "img/favicon.ico": {Data: []byte("i")},
		"sitemap-1.xml": {Data: []byte("s")}, ".well-known/x.png": {Data: []byte("w")}, "apple-touch-icon-180.png": {Data: []byte("a")},
		"sw.js": {Data: []byte("s")}, "page.html": {Data: []byte("<p>")}, "doc.pdf": {Data: []byte("p")}, "b.woff2": {Data: []byte("f")},
		"site.webmanifest": {Data: []byte("{}")},
	}
	man := hashMap(t, m, Options{})
	var got []string
	for _, a := range man.Assets {
		got = append(got, a.Logical)
	}
	if strings.Join(got, " ") != "a.CSS b.woff2" {
		t.Errorf("hashed %v, want [a.CSS b.woff2]", got)
	}
	man = hashMap(t, fstest.MapFS{"a.css": {Data: []byte("x")}, "b.css": {Data: []byte("y")}}, Options{Exclude: []string{"b.*"}})
	if len(man.Assets) != 1 || man.Assets[0].Logical != "a.css" {
		t.Errorf("custom exclude: %+v", man.Assets)
	}
	var ge *GlobError
	if _, err := Hash(context.Background(), fstest.MapFS{}, &memWriter{}, Options{Include: []string{"[a"}}); !errors.As(err, &ge) || ge.Pattern != "[a" {
		t.Errorf("bad glob: %v", err)
	}
}

// TestParentHashFollowsChild: a style sheet's name changes when an image
// it references changes, although its own source did not.
func TestParentHashFollowsChild(t *testing.T) {
	tree := func(img string) fstest.MapFS {
		return fstest.MapFS{
			"index.html":   {Data: []byte(`<link rel=stylesheet href="c/top.css">`)},
			"c/top.css":    {Data: []byte(`@import "mid.css";`)},
			"c/mid.css":    {Data: []byte(`a{background:url(../i/x.png)}`)},
			"i/x.png":      {Data: []byte(img)},
			"i/static.png": {Data: []byte("S")},
		}
	}
	m1, m2 := hashMap(t, tree("one"), Options{}), hashMap(t, tree("two"), Options{})
	for _, p := range []string{"c/top.css", "c/mid.css", "i/x.png"} {
		if m1.Lookup(p).Hashed == m2.Lookup(p).Hashed {
			t.Errorf("%s: name did not change with its child: %s", p, m1.Lookup(p).Hashed)
		}
	}
	if m1.Lookup("i/static.png").Hashed != m2.Lookup("i/static.png").Hashed {
		t.Error("unrelated asset changed name")
	}
}

// TestNameIsVerifiable: outside cycles, the name is the sha256 of the bytes.
func TestNameIsVerifiable(t *testing.T) {
	m := fstest.MapFS{"a.css": {Data: []byte(`x{background:url(b.png)}`)}, "b.png": {Data: []byte("B")}}
	man := hashMap(t, m, Options{})
	for _, a := range man.Assets {
		if !strings.Contains(a.Hashed, "."+a.SHA256[:10]+".") {
			t.Errorf("%s: name does not carry its sha256 %s", a.Hashed, a.SHA256)
		}
		if string(m[a.Hashed].Data) != string(m[a.Logical].Data) {
			t.Errorf("%s and %s differ", a.Hashed, a.Logical)
		}
	}
}

func TestCollision(t *testing.T) {
	m := fstest.MapFS{"b.png": {Data: []byte("B")}}
	man := hashMap(t, m, Options{})
	h := man.Assets[0].Hashed
	m2 := fstest.MapFS{"b.png": {Data: []byte("B")}, h: {Data: []byte("other")}}
	_, err := Hash(context.Background(), m2, &memWriter{}, Options{})
	if !errors.Is(err, ErrCollision) || !strings.Contains(err.Error(), h) {
		t.Errorf("err = %v, want ErrCollision naming %s", err, h)
	}
}

func TestRewriteRaw(t *testing.T) {
	cases := []struct{ raw, logical, hashed, want string }{
		{"a.png", "a.png", "a.0123456789.png", "a.0123456789.png"},
		{" ../img/a.png?v=1#x ", "img/a.png", "img/a.0123456789.png", " ../img/a.0123456789.png?v=1#x "},
		{"my%20pic.png", "my pic.png", "my pic.0123456789.png", "my%20pic.0123456789.png"},
		{"a&#46;png", "a.png", "a.0123456789.png", "a.0123456789.png"},
		{`a\(1\).png`, "a(1).png", "a(1).0123456789.png", "a%281%29.0123456789.png"},
		{"/x/y.tar.gz", "x/y.tar.gz", "x/y.tar.0123456789.gz", "/x/y.tar.0123456789.gz"},
		{`\css\x.css`, "css/x.css", "css/x.0123456789.css", `\css\x.0123456789.css`},
		{`a\\x.css`, "a/x.css", "a/x.0123456789.css", `a\\x.0123456789.css`},
		{"x\t.css", "x.css", "x.0123456789.css", "x.0123456789.css"},
		{"x%09.css", "x.css", "x.0123456789.css", "x%09.css"},
	}
	for _, c := range cases {
		got, _ := rewriteRaw(c.raw, c.logical, c.hashed)
		if got != c.want {
			t.Errorf("rewriteRaw(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

// TestFilter: the page filter passes every value that could name an asset
// once decoded, and skips the others.
func TestFilter(t *testing.T) {
	h := &hasher{names: map[string]bool{"py.svg": true, "app.css": true}}
	f := h.filter()
	for _, c := range []struct {
		raw  string
		pass bool
	}{
		{"_static/py.svg", true},
		{"../py.svg?v=1#x", true},
		{"a.png 1x, py.svg 2x", true},
		{"url('app.css')", true},
		{"library/functions.html#abs", false},
		{"https://bugs.python.org/issue?&#64;action=redirect&amp;bpo=12915", false},
		{"py&#46;svg", true},         // '.' is in a name: could be py.svg
		{"py&period;svg", true},      // a reference not decoded here
		{"a&amp;py.svg", true},       // '&' delimits
		{"x?a=1&amp;b=py.svg", true}, // the word after the reference
		{"py%2Esvg", true},           // %2E is '.'
		{"a%20b.html", false},        // ' ' is in no name
		{"100%", false},              // a lone '%'
		{"p\\79.svg", true},          // a CSS escape
		{"py.s\tv\r\ng", true},       // the URL parser drops tabs and newlines
		{"a.png\n 1x", false},        // a newline between words
		{"py.svgx", false},           // a longer word
		{"xpy.svg", false},
		{"", false},
	} {
		if got := f([]byte(c.raw)); got != c.pass {
			t.Errorf("filter(%q) = %v, want %v", c.raw, got, c.pass)
		}
	}
	h.names["a b.css"] = true
	if h.filter() != nil {
		t.Error("a name with a delimiter: the filter must be off")
	}
}

// TestStream: streamed digests equal those of the whole file, and a key
// is found wherever it falls, across the buffer's chunks too.
func TestStream(t *testing.T) {
	const chunk = 64 << 10
	for _, at := range []int{0, 100, chunk - 5, chunk - 17, chunk, 3*chunk - 1, -1} {
		b := bytes.Repeat([]byte("x"), 4*chunk)
		if at >= 0 {
			copy(b[at:], sourceMapKey)
		}
		h := &hasher{fsys: fstest.MapFS{"a.js": {Data: b, Mode: 0o640}}}
		sum, size, mode, found, err := h.stream("a.js", sourceMapKey)
		if err != nil {
			t.Fatal(err)
		}
		if sum != sha256.Sum256(b) || size != int64(len(b)) || mode != 0o640 {
			t.Errorf("key at %d: digest, size or mode wrong (%d, %v)", at, size, mode)
		}
		if found != (at >= 0) {
			t.Errorf("key at %d: found = %v", at, found)
		}
	}
}

package htmlrefs

import (
	"fmt"
	"strings"
	"testing"
)

// show renders a Target for tables: "local PATH [?q] [#f] [dir] [clamped]",
// "same PATH ...", "external SCHEME", "outside PATH".
func show(t Target) string {
	var s string
	switch t.Class {
	case External:
		return strings.TrimSpace("external " + t.Scheme)
	case Outside:
		s = "outside " + t.Path
	case SameDocument:
		s = "same " + t.Path
	case Local:
		s = "local " + t.Path
	default:
		return fmt.Sprintf("class %d", t.Class)
	}
	for _, x := range []string{t.Query, t.Fragment} {
		if x != "" {
			s += " " + x
		}
	}
	if t.Dir {
		s += " dir"
	}
	if t.Clamped {
		s += " clamped"
	}
	return s
}

// TestResolveDisputed lists the cases on which the two resolvers that
// existed before this one (htmlrefs' and validate's) disagreed, or that
// neither tested, with the one answer both hashassets and validate now
// follow. The rules are at the top of url.go.
func TestResolveDisputed(t *testing.T) {
	cases := []struct{ doc, base, ref, want string }{
		// ".." above the root: clamped there, as browsers do (validate
		// used to say "leaves the tree").
		{"a/index.html", "", "../../style.css", "local style.css clamped"},
		{"a/b.html", "", "/../a", "local a clamped"},
		{"index.html", "", "..", "local  dir clamped"},
		{"a/b.html", "", "../x/../../y.css", "local y.css clamped"},
		{"a/b.html", "", "..", "local  dir"},
		// Backslashes are slashes in the path; a decoded %5C is not.
		{"index.html", "", `\css\x.css`, "local css/x.css"},
		{"a/b.html", "", `x\y.png`, "local a/x/y.png"},
		{"a/b.html", "", `..\c.png`, "local c.png"},
		{"a/b.html", "", `x%5Cy.png`, `local a/x\y.png`},
		// C0 controls and spaces: trimmed at both ends; NUL inside is
		// %00, never a NUL byte.
		{"a/b.html", "", "\x01 c.png\x1f", "local a/c.png"},
		{"a/b.html", "", "\x00c.png\x00", "local a/c.png"},
		{"a/b.html", "", "c\x00.png", "local a/c%00.png"},
		{"a/b.html", "", "c%00.png", "local a/c%00.png"},
		{"a/b.html", "", "c\x7f.png", "local a/c\x7f.png"},
		// Tabs and newlines inside are removed (also inside a scheme).
		{"a/b.html", "", "c.\tp\nn\rg", "local a/c.png"},
		{"a/b.html", "", "java\nscript:alert(1)", "external javascript"},
		{"a/b.html", "", "/\t/host/x", "external"},
		{"a/b.html", "", "x y.png ", "local a/x y.png"},
		// Schemes compare in lower case.
		{"a/b.html", "", "HTTPS://x/y", "external https"},
		{"a/b.html", "", "JavaScript:void(0)", "external javascript"},
		{"a/b.html", "", "MAILTO:a@b", "external mailto"},
		{"a/b.html", "", "http:foo", "external http"},
		// Windows paths are URLs with a one-letter scheme.
		{"a/b.html", "", `C:\Users\me\x.png`, "external c"},
		{"a/b.html", "", "c:/x.png", "external c"},
		{"a/b.html", "", "file:///C:/x.png", "external file"},
		// Two slashes, in any mix of '/' and '\', start a host.
		{"a/b.html", "", "//host/x.css", "external"},
		{"a/b.html", "", `\\host\x.css`, "external"},
		{"a/b.html", "", `/\host/x.css`, "external"},
		{"a/b.html", "", `\/host/x.css`, "external"},
		{"a/b.html", "", "//", "external"},
		// Percent-decoding happens before segments are split, as the
		// server does it: %2F separates, %2e is a dot, bad escapes stay.
		{"a/b.html", "", "x%2Fy.css", "local a/x/y.css"},
		{"a/b.html", "", "..%2Fc.css", "local c.css"},
		{"a/b.html", "", "%2e%2E/c.css", "local c.css"},
		{"a/b.html", "", "%2e/c.css", "local a/c.css"},
		{"a/b.html", "", "my%20file.png", "local a/my file.png"},
		{"a/b.html", "", "%zz%20x", "local a/%zz x"},
		{"a/b.html", "", "%C3%BC.html", "local a/ü.html"},
		// Empty segments merge; "." and ".." and "/" name directories.
		{"a/b.html", "", "x//y.css", "local a/x/y.css"},
		{"a/b.html", "", ".", "local a dir"},
		{"a/b.html", "", "./", "local a dir"},
		{"a/b.html", "", "d/..", "local a dir"},
		{"a/b.html", "", "/", "local  dir"},
		// Empty, ?query only, #fragment only.
		{"a/b.html", "", "", "same a/b.html"},
		{"a/b.html", "", " \t", "same a/b.html"},
		{"a/b.html", "", "?q=1", "local a/b.html ?q=1"},
		{"a/b.html", "", "#frag", "same a/b.html #frag"},
		{"a/b.html", "", "#", "same a/b.html #"},
		{"a/b.html", "", "?", "local a/b.html ?"},
		{"a/b.html", "", "x.css?a#b?c", "local a/x.css ?a #b?c"},
		// <base href>, relative and absolute.
		{"a/b.html", "/docs/", "c.png", "local docs/c.png"},
		{"a/b.html", "/docs/", "", "local docs dir"},
		{"a/b.html", "/docs/", "?q", "local docs ?q dir"},
		{"a/b.html", "/docs/", "#f", "local docs #f dir"},
		{"a/b.html", "/docs/x.html", "", "local docs/x.html"},
		{"a/b.html", "../", "c.png", "local c.png"},
		{"a/b.html", "sub/", "c.png", "local a/sub/c.png"},
		{"a/b.html", "sub/p.html?x#y", "c.png", "local a/sub/c.png"},
		{"a/b.html", "../../../", "c.png", "local c.png"},
		{"a/b.html", " \x01/docs/\n", "c.png", "local docs/c.png"},
		{"a/b.html", `\docs\`, "c.png", "local docs/c.png"},
		{"a/b.html", "/docs/", "/c.png", "local c.png"},
		{"a/b.html", "https://example.com/", "c.png", "external https"},
		{"a/b.html", "https://example.com/", "/c.png", "external https"},
		{"a/b.html", "https://example.com/", "#f", "external https"},
		{"a/b.html", "//cdn.example/", "c.png", "external"},
		{"a/b.html", "https://example.com/", "mailto:x@y", "external mailto"},
	}
	for _, c := range cases {
		if got := show(Resolve(c.doc, c.base, c.ref)); got != c.want {
			t.Errorf("Resolve(%q, %q, %q) = %q, want %q", c.doc, c.base, c.ref, got, c.want)
		}
	}
}

// TestSite: a site served under /docs/ and reachable as
// https://example.com/docs/.
func TestSite(t *testing.T) {
	s := NewSite("/docs", "https://example.com/docs/", "http://other.example:8080")
	cases := []struct{ doc, base, ref, want string }{
		{"a/b.html", "", "/docs/x.html", "local x.html"},
		{"a/b.html", "", "/docs/", "local  dir"},
		{"a/b.html", "", "/docs", "local "},
		{"a/b.html", "", "/x.html", "outside /x.html"},
		{"a/b.html", "", "../x.html", "local x.html"},
		{"a/b.html", "", "../../x.html", "outside /x.html"},
		{"a/b.html", "", "../../../x.html", "outside /x.html clamped"},
		{"a/b.html", "", "https://EXAMPLE.com/docs/a/c.html?q#f", "local a/c.html ?q #f"},
		{"a/b.html", "", "HTTP://example.com/docs", "local "},
		{"a/b.html", "", "//example.com/docs/", "local  dir"},
		{"a/b.html", "", `https:\\example.com\docs\x`, "local x"},
		{"a/b.html", "", "https://user@example.com/docs/x", "local x"},
		{"a/b.html", "", "https://example.com/blog/x.html", "external https"},
		{"a/b.html", "", "https://example.com/docs/../blog/x.html", "external https"},
		{"a/b.html", "", "https://example.com.evil/docs/x.html", "external https"},
		{"a/b.html", "", "https://example.com", "external https"},
		{"a/b.html", "", "ftp://example.com/docs/x", "external ftp"},
		{"a/b.html", "", "http://other.example:8080/docs/y", "local y"},
		{"a/b.html", "", "http://other.example:8080/y", "outside /y"},
		{"a/b.html", "", "http://other.example/docs/y", "external http"},
		{"a/b.html", "https://example.com/docs/sub/", "x.html", "local sub/x.html"},
		{"a/b.html", "https://example.com/docs/sub/", "/docs/x.html", "local x.html"},
		{"a/b.html", "/other/", "x.html", "outside /other/x.html"},
		{"a/b.html", "/other/", "/docs/x.html", "local x.html"},
		{"a/b.html", "/docs", "x.html", "outside /x.html"},
		{"a/b.html", "https://cdn.example/", "https://example.com/docs/x.html", "local x.html"},
	}
	for _, c := range cases {
		b := s.Base(c.doc, c.base)
		if got := show(b.Resolve(c.ref)); got != c.want {
			t.Errorf("Base(%q, %q).Resolve(%q) = %q, want %q", c.doc, c.base, c.ref, got, c.want)
		}
	}
	if got := show(Resolve("a/b.html", "", "https://example.com/docs/x")); got != "external https" {
		t.Errorf("without a Site, a site URL is %q, want external", got)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"": "", " \x00\x1f": "", " a b ": "a b", "\ta\tb\n": "ab", "a\r\nb": "ab", "a\x7f": "a\x7f", "\x0ca": "a",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
		if IsEmpty(in) != (want == "") {
			t.Errorf("IsEmpty(%q) = %v", in, IsEmpty(in))
		}
	}
	if n := testing.AllocsPerRun(10, func() { Clean(" a/b.css ") }); n != 0 {
		t.Errorf("Clean allocates %v times without tabs or newlines", n)
	}
}

func TestFileName(t *testing.T) {
	for _, c := range []struct {
		ref, name string
		literal   bool
	}{
		{"a/b.css?v#f", "b.css", true},
		{`a\b.css`, "b.css", true},
		{"b.css", "b.css", true},
		{"b%2ecss", "b%2ecss", false},
		{"b.css ", "b.css ", false},
		{"a/", "", true},
	} {
		if name, lit := FileName(c.ref); name != c.name || lit != c.literal {
			t.Errorf("FileName(%q) = %q, %v; want %q, %v", c.ref, name, lit, c.name, c.literal)
		}
	}
}

// TestResolveAllocs: a clean root-relative path resolves without
// allocating; a relative one allocates its Path once.
func TestResolveAllocs(t *testing.T) {
	b := NewSite("/").Base("a/b.html", "")
	for ref, want := range map[string]float64{"/x/y.css?v=1": 0, "https://x/y": 0, "#f": 0, "y.css": 1, "../y.css": 1} {
		if n := testing.AllocsPerRun(20, func() { b.Resolve(ref) }); n != want {
			t.Errorf("Resolve(%q): %v allocations, want %v", ref, n, want)
		}
	}
}

package hashassets

import (
	"bytes"
	"path"
	"testing"
	"testing/fstest"

	"github.com/example/release-agent/htmlrefs"
)

// fuzzTree is the site around the fuzzed page or style sheet.
func fuzzTree(name string, src []byte) fstest.MapFS {
	return fstest.MapFS{
		name:            {Data: src, Mode: 0o444},
		"a.png":         {Data: []byte("A"), Mode: 0o444},
		"img/b c.png":   {Data: []byte("B"), Mode: 0o444},
		"s/site.css":    {Data: []byte(`x{background:url(../a.png)}`), Mode: 0o444},
		"s/site.js":     {Data: []byte("x()\n//# sourceMappingURL=site.js.map"), Mode: 0o444},
		"s/site.js.map": {Data: []byte("{}"), Mode: 0o444},
	}
}

// checkRewrite compares a document before and after hashing: the same
// references in the same order, identical bytes between them, and each
// reference either unchanged or naming the hashed file of what it named.
func checkRewrite(t *testing.T, name string, before, after []byte, man *Manifest) {
	t.Helper()
	o, n := refsOf(t, name, before), refsOf(t, name, after)
	if len(o) != len(n) {
		t.Fatalf("%d references before, %d after:\nbefore %q\nafter  %q", len(o), len(n), before, after)
	}
	hashed := man.Map()
	lo, ln := 0, 0
	for i := range o {
		if o[i].Inexact || n[i].Inexact {
			if o[i].Raw != n[i].Raw {
				t.Fatalf("inexact reference rewritten: %q -> %q", o[i].Raw, n[i].Raw)
			}
			continue
		}
		if o[i].Start < lo {
			continue // nested (srcdoc) refs overlap
		}
		if !bytes.Equal(before[lo:o[i].Start], after[ln:n[i].Start]) {
			t.Fatalf("bytes before reference %d differ:\nbefore %q\nafter  %q", i, before, after)
		}
		lo, ln = o[i].End, n[i].End
		if o[i].Raw == n[i].Raw {
			continue
		}
		ot := htmlrefs.Resolve(name, o[i].base, o[i].Value)
		nt := htmlrefs.Resolve(name, n[i].base, n[i].Value)
		if h, ok := hashed[ot.Path]; !ok || ot.Class != htmlrefs.Local || nt.Path != h || ot.Query != nt.Query || ot.Fragment != nt.Fragment {
			t.Fatalf("reference %q rewritten to %q (%+v -> %+v)", o[i].Value, n[i].Value, ot, nt)
		}
	}
	if !bytes.Equal(before[lo:], after[ln:]) {
		t.Fatalf("bytes after the last reference differ:\nbefore %q\nafter  %q", before, after)
	}
}

func FuzzRewriteHTML(f *testing.F) {
	for _, s := range []string{
		`<img srcset="a.png 1x, img/b%20c.png 2x" src="/a.png?x#y"><link rel=stylesheet href="s/site.css">`,
		`<base href="s/"><script src="site.js"></script><a href="../a.png">`,
		`<div style="background:url(&quot;a.png&quot;)"><style>@import "s/site.css";</style><iframe srcdoc="<img src=a.png>">`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "d/index.html"
		m := fuzzTree(name, bytes.Clone(src))
		m["d/a.png"] = &fstest.MapFile{Data: []byte("DA"), Mode: 0o444}
		man := hashMap(t, m, Options{})
		checkRewrite(t, name, src, m[name].Data, man)
	})
}

func FuzzRewriteCSS(f *testing.F) {
	for _, s := range []string{
		`a{background:url( "../a.png" )} @import '../s/site.css'; /* url(../a.png) */ b{c:image-set("../img/b%20c.png" 1x)}`,
		`@font-face{src:url(../a.png?#iefix) format("x")} x{y:url(\2e\2e/a.png)}`,
		"a{}\n/*# sourceMappingURL=../s/site.js.map */",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "c/x.css"
		m := fuzzTree(name, bytes.Clone(src))
		man := hashMap(t, m, Options{})
		a := man.Lookup(name)
		if a == nil {
			t.Fatal("the style sheet was not hashed")
		}
		out := m[a.Hashed].Data
		if !bytes.Equal(out, m[name].Data) {
			t.Fatal("original and hashed style sheet differ")
		}
		checkRewrite(t, name, src, out, man)
		if path.Dir(a.Hashed) != "c" {
			t.Fatalf("hashed name %s left the directory", a.Hashed)
		}
	})
}

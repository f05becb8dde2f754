package hashassets

import (
	"testing"
	"testing/fstest"

	"github.com/example/release-agent/htmlrefs"
)

// sharedPage holds references on which the resolvers of hashassets and
// validate once disagreed; validate's TestResolverShared checks the same
// page (and this package's output) with the same answers, from htmlrefs:
// "../../style.css" from a/ climbs above the root and stays there
// (style.css), "\css\x.css" is "/css/x.css", a tab inside is dropped, and
// "%2e%2e" is "..".
const sharedPage = "<link rel=stylesheet href=\"../../style.css\">\n" +
	"<link rel=stylesheet href=\"\\css\\x.css\">\n" +
	"<link rel=stylesheet href=\"../css/x\t.css\">\n" +
	"<link rel=stylesheet href=\"%2e%2e/css/x.css?v=1\">\n"

// TestResolverShared: every reference of sharedPage is rewritten to the
// hashed name of the asset htmlrefs resolves it to.
func TestResolverShared(t *testing.T) {
	m := fstest.MapFS{
		"a/index.html": {Data: []byte(sharedPage)},
		"style.css":    {Data: []byte("body{}")},
		"css/x.css":    {Data: []byte("p{}")},
	}
	var before []string
	htmlrefs.ScanHTML([]byte(sharedPage), htmlrefs.Options{}, htmlrefs.Funcs{OnRef: func(r htmlrefs.Ref) {
		before = append(before, htmlrefs.Resolve("a/index.html", "", r.Value).Path)
	}})
	want := []string{"style.css", "css/x.css", "css/x.css", "css/x.css"}
	if len(before) != len(want) {
		t.Fatalf("refs resolve to %q, want %q", before, want)
	}
	for i := range want {
		if before[i] != want[i] {
			t.Fatalf("refs resolve to %q, want %q", before, want)
		}
	}
	hashed := hashMap(t, m, Options{}).Map()
	page := m["a/index.html"].Data
	var n int
	htmlrefs.ScanHTML(page, htmlrefs.Options{}, htmlrefs.Funcs{OnRef: func(r htmlrefs.Ref) {
		tg := htmlrefs.Resolve("a/index.html", "", r.Value)
		if tg.Class != htmlrefs.Local || tg.Path != hashed[want[n]] {
			t.Errorf("ref %d: %q resolves to %+v, want the hashed %s (%s)\n%s", n, r.Value, tg, want[n], hashed[want[n]], page)
		}
		n++
	}})
	if n != len(want) {
		t.Errorf("%d refs after hashing, want %d:\n%s", n, len(want), page)
	}
}

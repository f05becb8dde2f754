package service

import (
	"strings"
	"testing"

	"github.com/example/release-agent/api"
)

// TestSiteNamesSorted: the errors listing the configured sites list them
// in sorted order, not in Go's random map order.
func TestSiteNamesSorted(t *testing.T) {
	l := &Local{Sites: map[string]*Site{}}
	for _, n := range []string{"zeta", "alpha", "mid", "docs", "www", "blog", "api", "shop"} {
		l.Sites[n] = &Site{Name: n, Root: "/srv/" + n}
	}
	sorted := "alpha, api, blog, docs, mid, shop, www, zeta"
	for range 20 { // map order changes between iterations
		_, err := l.site(api.Target{Site: "nope"})
		if err == nil || !strings.Contains(err.Error(), "(sites: "+sorted+")") {
			t.Fatalf("unknown site: error %v; want the sites listed as %q", err, sorted)
		}
		_, err = l.site(api.Target{})
		if err == nil || !strings.Contains(err.Error(), "(configured sites: "+sorted+")") {
			t.Fatalf("no site given: error %v; want the sites listed as %q", err, sorted)
		}
	}
}

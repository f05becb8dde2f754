package loadtest

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// siteHandler serves Site(pageID) for pages and Site(assetID) for every
// other file; a path missing from the site is a 404.
func siteHandler(pageID string, assetID func() string) http.Handler {
	pages := Site(pageID)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p == "" || strings.HasSuffix(p, "/") {
			p += "index.html"
		}
		files := pages
		if !strings.HasSuffix(p, ".html") {
			files = Site(assetID())
		}
		b, ok := files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
}

func TestRunConsistentSite(t *testing.T) {
	srv := httptest.NewServer(siteHandler("a", func() string { return "a" }))
	defer srv.Close()
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Pages: SitePages, Workers: 2, Duration: time.Minute, MaxPages: 30})
	if err != nil {
		t.Fatal(err)
	}
	if res.PageLoads != 30 {
		t.Errorf("page loads %d, want 30 (MaxPages)", res.PageLoads)
	}
	// Each page: itself, site.css, logo.svg, hero.png, badge.svg,
	// app.js, vendor.js, and bg.svg through the stylesheet.
	if want := int64(30 * 8); res.Requests != want {
		t.Errorf("requests %d, want %d", res.Requests, want)
	}
	if res.Failures() != 0 || res.MixedPages != 0 || res.Unmarked != 0 {
		t.Errorf("consistent site: %v %v", res, res.Examples)
	}
}

func TestRunDetectsMixAndErrors(t *testing.T) {
	var n atomic.Int64
	// Assets alternate between releases a and b: about half of the page
	// loads of release a get an asset of b.
	h := siteHandler("a", func() string {
		if n.Add(1)%2 == 0 {
			return "b"
		}
		return "a"
	})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/docs/b.html", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Pages: SitePages, Workers: 1, Duration: time.Minute, MaxPages: 12})
	if err != nil {
		t.Fatal(err)
	}
	if res.MixedPages == 0 {
		t.Errorf("no mixed page detected: %v", res)
	}
	if res.Non2xx != 2 || res.Statuses[503] != 2 {
		t.Errorf("non-2xx %d (%v), want 2 (docs/b.html twice)", res.Non2xx, res.Statuses)
	}
	if len(res.Examples) == 0 {
		t.Error("no example recorded")
	}
}

func TestRunConnectionErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens any more
	res, err := Run(context.Background(), Config{BaseURL: u, Pages: []string{"/"}, Workers: 1, Duration: time.Minute, MaxPages: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.ConnErrors != 3 || res.Requests != 0 {
		t.Errorf("conn errors %d, requests %d; want 3, 0", res.ConnErrors, res.Requests)
	}
}

func TestRunDelayedCrossesSwap(t *testing.T) {
	var gen atomic.Uint64
	srv := httptest.NewServer(siteHandler("a", func() string { return "a" }))
	defer srv.Close()
	// Every page load waits; the counter moves on every read, so each
	// delayed load sees it move.
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Pages: SitePages, Workers: 1, Duration: time.Minute, MaxPages: 5,
		DelayedShare: 1, MaxDelay: time.Millisecond, Swaps: func() uint64 { return gen.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delayed != 5 || res.CrossedSwaps != 5 {
		t.Errorf("delayed %d, crossed %d; want 5, 5", res.Delayed, res.CrossedSwaps)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1/", "http://example.com/", "ftp://127.0.0.1/", "http://10.0.0.1:80"} {
		_, err := Run(context.Background(), Config{BaseURL: u, Pages: []string{"/"}, Duration: time.Second})
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: err %v, want ErrNotLoopback", u, err)
		}
	}
	_, err := Run(context.Background(), Config{BaseURL: "http://127.0.0.1:1", Pages: []string{"/"}})
	if !errors.Is(err, ErrUnbounded) {
		t.Errorf("no duration: err %v, want ErrUnbounded", err)
	}
}

func TestRefs(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:8080/docs/a.html")
	html := `<link rel="stylesheet" href="../css/x.css"><link rel=canonical href="/c.html">
<a href="b.html">b</a><img src='i.png' srcset="i.png 1x, /j.png 2x"><script src=/js/s.js></script>
<img src="data:image/png;base64,AAAA"><img src="https://cdn.example/x.png"><link rel="icon preload" href="#f"><link href="k.css" rel="stylesheet">`
	var got []string
	for _, u := range Refs(base, []byte(html), false) {
		got = append(got, u.Path)
	}
	want := []string{"/css/x.css", "/docs/i.png", "/j.png", "/js/s.js", "/docs/k.css"}
	if !slices.Equal(got, want) {
		t.Errorf("html refs %v, want %v", got, want)
	}
	cssBase, _ := url.Parse("http://127.0.0.1:8080/css/site.css")
	css := `@import "a.css"; body{background:url(../img/bg.svg)} .x{background:url( "y.png" )} .z{src:url(#frag)}`
	got = nil
	for _, u := range Refs(cssBase, []byte(css), true) {
		got = append(got, u.Path)
	}
	want = []string{"/css/a.css", "/img/bg.svg", "/css/y.png"}
	if !slices.Equal(got, want) {
		t.Errorf("css refs %v, want %v", got, want)
	}
}

func TestSiteMarkersAndPNG(t *testing.T) {
	files := Site("r7")
	for name, b := range files {
		id := DefaultMarker.FindSubmatch(b)
		shared := name == "js/vendor.js" || name == "img/logo.svg"
		if shared != (id == nil) {
			t.Errorf("%s: marker %q (shared file: %v)", name, id, shared)
		}
		if id != nil && string(id[1]) != "r7" {
			t.Errorf("%s: marker %s, want r7", name, id[1])
		}
	}
	if _, err := png.Decode(bytes.NewReader(files["img/hero.png"])); err != nil {
		t.Errorf("hero.png does not decode: %v", err)
	}
	// Every asset a page references exists in the site.
	base, _ := url.Parse("http://127.0.0.1/docs/a.html")
	for _, u := range Refs(base, files["docs/a.html"], false) {
		if _, ok := files[strings.TrimPrefix(path.Clean(u.Path), "/")]; !ok {
			t.Errorf("docs/a.html references %s, not in the site", u.Path)
		}
	}
}

func FuzzRefs(f *testing.F) {
	f.Add([]byte(Site("x")["index.html"]), false)
	f.Add([]byte(Site("x")["css/site.css"]), true)
	f.Fuzz(func(t *testing.T, body []byte, css bool) {
		base, _ := url.Parse("http://127.0.0.1:8080/d/p.html")
		for _, u := range Refs(base, body, css) {
			if u.Host != base.Host || u.Scheme != base.Scheme {
				t.Fatalf("ref %s leaves the origin", u)
			}
			if u.Fragment != "" {
				t.Fatalf("ref %s keeps a fragment", u)
			}
		}
	})
}

const wrkSample = `Running 5s test @ http://127.0.0.1:40001/docs/a.html
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   312.55us  201.03us   5.47ms   91.12%
    Req/Sec    24.71k     1.32k   26.80k    78.00%
  122912 requests in 5.00s, 161.99MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  24580.57
Transfer/sec:     32.39MB
`

func TestParseWrk(t *testing.T) {
	r, err := ParseWrk([]byte(wrkSample))
	if err != nil {
		t.Fatal(err)
	}
	want := WrkResult{Requests: 122912, RequestsSec: 24580.57, Non2xx3xx: 4, SocketErrors: 3}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	if _, err := ParseWrk([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); !errors.Is(err, ErrWrkOutput) {
		t.Errorf("garbage: err %v, want ErrWrkOutput", err)
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add([]byte(wrkSample))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseWrk(b)
		if err == nil && (r.Requests < 0 || r.RequestsSec < 0 || r.SocketErrors < 0 || r.Non2xx3xx < 0) {
			t.Fatalf("negative counts accepted: %+v", r)
		}
	})
}

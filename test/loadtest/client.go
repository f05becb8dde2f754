// Package loadtest proves the zero-downtime promise under load: a load
// client that behaves like a browser (a page, then every asset the page
// references, some of them late), a generator of site variants that embed
// a release marker in every page and asset, and helpers that run nginx and
// wrk as child processes on 127.0.0.1.
//
// # The client
//
// Run fetches pages from a loopback server until its time or page budget is
// spent. For each page it fetches every asset the page references (link
// href, src, srcset, and url()/@import inside fetched CSS), as a browser
// would; a share of page loads waits a random delay between the page and
// its assets, so that a swap of the release can happen in between. Every
// response body is searched for a marker (DefaultMarker: "release:ID");
// a page load is mixed when an asset's marker differs from the page's.
//
// Run counts, it does not judge: requests, non-2xx responses, connection
// errors, mixed page loads. Callers (tests) assert on the counts.
//
// # Safety
//
// Run refuses any base URL whose host is not a loopback IP literal or
// "localhost", and follows only same-origin references, so it cannot be
// pointed at another machine. Every run is bounded in time and in page
// loads.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMarker matches the release marker embedded in pages and assets;
// its first group is the release id.
var DefaultMarker = regexp.MustCompile(`release:([A-Za-z0-9_.-]{1,64})`)

// ErrNotLoopback is returned by Run when the base URL is not on the local
// host.
var ErrNotLoopback = errors.New("load client targets loopback addresses only")

// ErrUnbounded is returned by Run when the config sets no bound on time.
var ErrUnbounded = errors.New("load run needs a time bound (Config.Duration)")

// Config of one load run.
type Config struct {
	// BaseURL is "http://127.0.0.1:PORT" (or localhost, [::1]).
	BaseURL string
	// Pages are the paths fetched in turn ("/", "/docs/a.html").
	Pages []string
	// Workers is the number of concurrent simulated browsers (default 4).
	Workers int
	// Duration bounds the run (required).
	Duration time.Duration
	// MaxPages bounds the page loads (0: no bound but Duration).
	MaxPages int64
	// DelayedShare of page loads waits a random time in [0, MaxDelay)
	// between the page and its assets.
	DelayedShare float64
	MaxDelay     time.Duration
	// Swaps, if set, returns a counter that the caller increments after
	// every switch of the live release; page loads whose assets were
	// requested after the counter moved are counted as CrossedSwaps.
	Swaps func() uint64
	// Marker overrides DefaultMarker.
	Marker *regexp.Regexp
	// RequestTimeout bounds one request (default 10s).
	RequestTimeout time.Duration
	// Seed makes the delays reproducible (0: random).
	Seed uint64
}

// Result counts what a run saw. It is what tests assert on and what the
// bench script collects (JSON).
type Result struct {
	PageLoads    int64 `json:"page_loads"`    // pages fetched with all their assets
	Requests     int64 `json:"requests"`      // HTTP requests that got a response
	Non2xx       int64 `json:"non_2xx"`       // responses with a status outside 200-299
	ConnErrors   int64 `json:"conn_errors"`   // requests that got no response (refused, reset, timeout)
	MixedPages   int64 `json:"mixed_pages"`   // page loads with an asset of another release
	Unmarked     int64 `json:"unmarked"`      // pages without a marker (cannot be checked)
	Delayed      int64 `json:"delayed"`       // page loads that waited before their assets
	CrossedSwaps int64 `json:"crossed_swaps"` // page loads whose assets came after a swap
	// Spans counts page loads by the number of swaps counted between the
	// page's response and its last asset's response.
	Spans    map[uint64]int64 `json:"spans,omitempty"`
	Statuses map[int]int64    `json:"statuses"`
	// Examples describes up to 20 failures and mixes, for the test log.
	Examples []string      `json:"examples,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Failures is Non2xx + ConnErrors.
func (r *Result) Failures() int64 { return r.Non2xx + r.ConnErrors }

func (r *Result) String() string {
	return fmt.Sprintf("%d page loads, %d requests in %v (%.0f req/s): %d non-2xx, %d connection errors, %d mixed pages, %d unmarked, %d delayed, %d crossed a swap (page loads by swaps crossed: %v)",
		r.PageLoads, r.Requests, r.Elapsed.Round(time.Millisecond), float64(r.Requests)/max(r.Elapsed.Seconds(), 1e-9),
		r.Non2xx, r.ConnErrors, r.MixedPages, r.Unmarked, r.Delayed, r.CrossedSwaps, r.Spans)
}

// checkLoopback returns the parsed base URL if its host is local.
func checkLoopback(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("base URL %q: scheme %q: %w", base, u.Scheme, ErrNotLoopback)
	}
	h := u.Hostname()
	if h == "localhost" {
		return u, nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("base URL %q: host %q: %w", base, h, ErrNotLoopback)
	}
	return u, nil
}

type run struct {
	cfg    Config
	base   *url.URL
	hc     *http.Client
	marker *regexp.Regexp
	pages  atomic.Int64 // page loads started (for MaxPages)

	mu  sync.Mutex
	res Result
}

// Run executes one load run and returns its counts. It stops when ctx is
// done, Duration has passed or MaxPages page loads have started; requests
// in flight at that moment complete (they are not cancelled, so a stop is
// never counted as a connection error), and a page load still waiting for
// its delay is abandoned uncounted. The error is non-nil only for a bad
// Config. Run is safe to call concurrently with other runs.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	base, err := checkLoopback(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Duration <= 0 {
		return nil, ErrUnbounded
	}
	if len(cfg.Pages) == 0 {
		return nil, errors.New("load run: Config.Pages is empty")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	r := &run{cfg: cfg, base: base, marker: cfg.Marker}
	if r.marker == nil {
		r.marker = DefaultMarker
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback only: never through a proxy
		MaxIdleConnsPerHost: cfg.Workers * 2,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	r.hc = &http.Client{
		Transport: tr,
		Timeout:   cfg.RequestTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != base.Host {
				return fmt.Errorf("redirect to %s: %w", req.URL, ErrNotLoopback)
			}
			return nil
		},
	}
	r.res.Statuses = map[int]int64{}
	r.res.Spans = map[uint64]int64{}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		seed := cfg.Seed
		if seed == 0 {
			seed = rand.Uint64()
		}
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx, w, rng)
		}()
	}
	wg.Wait()
	r.res.Elapsed = time.Since(start)
	return &r.res, nil
}

func (r *run) worker(ctx context.Context, w int, rng *rand.Rand) {
	for i := w; ; i++ {
		if ctx.Err() != nil {
			return
		}
		if r.cfg.MaxPages > 0 && r.pages.Add(1) > r.cfg.MaxPages {
			return
		}
		r.pageLoad(ctx, r.cfg.Pages[i%len(r.cfg.Pages)], rng)
	}
}

func (r *run) example(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.res.Examples) < 20 {
		r.res.Examples = append(r.res.Examples, fmt.Sprintf(f, a...))
	}
}

// fetch GETs u and returns the body of a 2xx response (nil otherwise),
// counting the outcome.
func (r *run) fetch(u *url.URL, page string) []byte {
	// Not bound to the run's ctx: a request in flight when the run stops
	// completes (see Run).
	resp, err := r.hc.Get(u.String())
	if err != nil {
		r.mu.Lock()
		r.res.ConnErrors++
		r.mu.Unlock()
		r.example("GET %s%s: %v", u.Path, page, err)
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.mu.Lock()
	r.res.Requests++
	r.res.Statuses[resp.StatusCode]++
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok {
		r.res.Non2xx++
	}
	if err != nil {
		r.res.ConnErrors++
	}
	r.mu.Unlock()
	if !ok {
		r.example("GET %s%s: %s", u.Path, page, resp.Status)
		return nil
	}
	if err != nil {
		r.example("GET %s%s: reading body: %v", u.Path, page, err)
		return nil
	}
	return body
}

func (r *run) gen() uint64 {
	if r.cfg.Swaps == nil {
		return 0
	}
	return r.cfg.Swaps()
}

func (r *run) pageLoad(ctx context.Context, p string, rng *rand.Rand) {
	pu, err := r.base.Parse(p)
	if err != nil {
		r.example("page %q: %v", p, err)
		return
	}
	body := r.fetch(pu, "")
	if body == nil {
		r.count(func(res *Result) { res.PageLoads++ })
		return
	}
	g0 := r.gen()
	pageID := r.find(body)
	delayed := false
	if r.cfg.DelayedShare > 0 && r.cfg.MaxDelay > 0 && rng.Float64() < r.cfg.DelayedShare {
		delayed = true
		t := time.NewTimer(time.Duration(rng.Int64N(int64(r.cfg.MaxDelay))))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	// Assets of the page, then assets of its stylesheets (one level, as
	// deep as real sites go for fonts and images).
	seen := map[string]bool{pu.Path: true}
	queue := Refs(pu, body, false)
	var mixed []string
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		if a.Host != r.base.Host || seen[a.Path] {
			continue
		}
		seen[a.Path] = true
		b := r.fetch(a, fmt.Sprintf(" (asset of page %s, release %s, swaps %d..%d)", pu.Path, pageID, g0, r.gen()))
		if b == nil {
			continue
		}
		if id := r.find(b); id != "" && pageID != "" && id != pageID {
			mixed = append(mixed, fmt.Sprintf("%s=%s", a.Path, id))
		}
		if strings.HasSuffix(a.Path, ".css") {
			queue = append(queue, Refs(a, b, true)...)
		}
	}
	g1 := r.gen()
	r.count(func(res *Result) {
		res.PageLoads++
		if r.cfg.Swaps != nil {
			res.Spans[g1-g0]++
		}
		if delayed {
			res.Delayed++
		}
		if g1 != g0 {
			res.CrossedSwaps++
		}
		if pageID == "" {
			res.Unmarked++
		}
		if len(mixed) > 0 {
			res.MixedPages++
		}
	})
	if len(mixed) > 0 {
		r.example("mixed: page %s is release %s, assets %s", pu.Path, pageID, strings.Join(mixed, " "))
	}
}

func (r *run) count(f func(*Result)) {
	r.mu.Lock()
	f(&r.res)
	r.mu.Unlock()
}

func (r *run) find(b []byte) string {
	m := r.marker.FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

var (
	// tags whose URL attributes a browser fetches while loading the page
	htmlTagRE  = regexp.MustCompile(`(?is)<(?:link|script|img|source|video|audio|input|embed)\b[^>]*>`)
	htmlAttrRE = regexp.MustCompile(`(?is)\s(href|src|srcset)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))`)
	linkRelRE  = regexp.MustCompile(`(?is)\srel\s*=\s*["']?([^"'>]*)`)
	cssURLRE   = regexp.MustCompile(`(?is)(?:url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\))|(?:@import\s+(?:"([^"]*)"|'([^']*)'))`)
)

// Refs returns the same-origin URLs that a browser would fetch to render
// body, fetched from base: for HTML, the src and srcset of media and
// scripts and the href of stylesheets, icons and preloads (not of
// hyperlinks); for CSS (css true), url() and @import. Fragments are
// dropped, duplicates and data:/external URLs left out. The result is in
// document order.
func Refs(base *url.URL, body []byte, css bool) []*url.URL {
	var raw []string
	if css {
		for _, m := range cssURLRE.FindAllSubmatch(body, -1) {
			for _, g := range m[1:] {
				if len(g) > 0 {
					raw = append(raw, string(g))
					break
				}
			}
		}
	} else {
		for _, tag := range htmlTagRE.FindAll(body, -1) {
			isLink := len(tag) > 5 && strings.EqualFold(string(tag[1:5]), "link")
			if isLink {
				rel := linkRelRE.FindSubmatch(tag)
				if rel == nil || !fetchedRel(string(rel[1])) {
					continue
				}
			}
			for _, m := range htmlAttrRE.FindAllSubmatch(tag, -1) {
				v := string(m[2]) + string(m[3]) + string(m[4])
				switch strings.ToLower(string(m[1])) {
				case "srcset":
					for _, cand := range strings.Split(v, ",") {
						if f := strings.Fields(cand); len(f) > 0 {
							raw = append(raw, f[0])
						}
					}
				case "href":
					if isLink {
						raw = append(raw, v)
					}
				default:
					raw = append(raw, v)
				}
			}
		}
	}
	var out []*url.URL
	seen := map[string]bool{}
	for _, s := range raw {
		s = strings.TrimSpace(s)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		u, err := base.Parse(s)
		if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
			continue
		}
		u.Fragment, u.RawFragment = "", ""
		if k := u.String(); !seen[k] {
			seen[k] = true
			out = append(out, u)
		}
	}
	return out
}

func fetchedRel(rel string) bool {
	for _, r := range strings.Fields(strings.ToLower(rel)) {
		if slices.Contains([]string{"stylesheet", "icon", "preload", "modulepreload", "apple-touch-icon", "manifest"}, r) {
			return true
		}
	}
	return false
}

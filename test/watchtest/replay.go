// Package watchtest holds the end-to-end tests of watching releases and
// automatic canaries (issue 17), and the traffic they replay: Replay
// simulates browsers, each with its own cookie jar (so nginx's sticky
// cohort cookie works as for real users), loading pages picked from a
// weighted mix together with every asset each page references, plus a
// share of requests for pages that exist in no release (the background
// error rate every real site has).
//
// Replay counts, it does not judge; tests assert on its Result.
package watchtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/example/release-agent/test/loadtest"
)

// Page is a path of the mix and its weight (relative frequency).
type Page struct {
	Path   string
	Weight int
}

// Config of one replay.
type Config struct {
	// BaseURL is "http://127.0.0.1:PORT"; only loopback hosts are
	// accepted.
	BaseURL string
	// Clients is the number of simulated browsers, each with its own
	// cookie jar and connection pool (default 20).
	Clients int
	// Pages is the weighted mix of page loads.
	Pages []Page
	// Missing are paths that exist in no release; MissingShare of page
	// loads requests one of them instead of a page of the mix.
	Missing      []string
	MissingShare float64
	// Think is the pause of a client between two page loads (0: none).
	Think time.Duration
	// Duration bounds the replay (required).
	Duration time.Duration
	// Seed makes the mix reproducible (0: random).
	Seed uint64
	// Visits, when positive, replaces a browser by a new one (a new
	// visitor: empty cookie jar, new connections) after that many page
	// loads, so that a run sees many visitors, as a site does.
	Visits int
}

// Load is one page load of one client.
type Load struct {
	At      time.Time // when the page was requested
	Visitor int       // which browser loaded it (unique in a Result)
	Path    string
	Status  int    // the page's status; 0 on a connection error
	Release string // the page's marker; "" when not 2xx or unmarked
	Missing bool   // a request of Config.Missing
	Mixed   bool   // an asset carried another release's marker
	Failed  int    // non-2xx assets and connection errors of its assets
}

// Result is what a replay saw, per client in Clients[i].
type Result struct {
	Clients [][]Load
	Elapsed time.Duration
}

// All returns the loads of every client, by time.
func (r *Result) All() []Load {
	var all []Load
	for _, c := range r.Clients {
		all = append(all, c...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	return all
}

// Summary counts the loads in [from, to) (zero times: no bound).
type Summary struct {
	PageLoads  int
	Missing    int            // loads of Config.Missing (expected 404)
	PageErrors map[string]int // non-2xx pages not in Missing, by path
	Assets     int            // failed assets
	Mixed      int
	Releases   map[string]int // page loads by release
}

// Summarize counts r's loads in [from, to).
func (r *Result) Summarize(from, to time.Time) Summary {
	s := Summary{PageErrors: map[string]int{}, Releases: map[string]int{}}
	for _, l := range r.All() {
		if (!from.IsZero() && l.At.Before(from)) || (!to.IsZero() && !l.At.Before(to)) {
			continue
		}
		s.PageLoads++
		s.Assets += l.Failed
		if l.Mixed {
			s.Mixed++
		}
		switch {
		case l.Missing:
			s.Missing++
		case l.Status < 200 || l.Status > 299:
			s.PageErrors[l.Path]++
		default:
			s.Releases[l.Release]++
		}
	}
	return s
}

// Replay runs cfg until its Duration passes or ctx ends. The error is
// non-nil only for a bad Config.
func Replay(ctx context.Context, cfg Config) (*Result, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("replay: base URL %q: %w", cfg.BaseURL, err)
	}
	if ip := net.ParseIP(base.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("replay: base URL %q: %w", cfg.BaseURL, loadtest.ErrNotLoopback)
	}
	if cfg.Duration <= 0 {
		return nil, loadtest.ErrUnbounded
	}
	total := 0
	for _, p := range cfg.Pages {
		if p.Weight < 0 {
			return nil, fmt.Errorf("replay: page %s: negative weight %d", p.Path, p.Weight)
		}
		total += p.Weight
	}
	if total == 0 {
		return nil, errors.New("replay: Config.Pages has no page with a weight")
	}
	if cfg.MissingShare > 0 && len(cfg.Missing) == 0 {
		return nil, errors.New("replay: MissingShare without Missing paths")
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 20
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	res := &Result{Clients: make([][]Load, cfg.Clients)}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			c := newBrowser(base, rng)
			defer func() { c.tr.CloseIdleConnections() }()
			visitor, n := i, 0
			for ctx.Err() == nil {
				if cfg.Visits > 0 && n == cfg.Visits {
					c.tr.CloseIdleConnections()
					c, n = newBrowser(base, rng), 0
					visitor += cfg.Clients
				}
				l := c.load(cfg, total)
				l.Visitor = visitor
				n++
				res.Clients[i] = append(res.Clients[i], l)
				if cfg.Think > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(time.Duration(c.rng.Int64N(int64(2 * cfg.Think)))):
					}
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, nil
}

type browser struct {
	base *url.URL
	rng  *rand.Rand
	tr   *http.Transport
	hc   *http.Client
}

func newBrowser(base *url.URL, rng *rand.Rand) *browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	hc := &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != base.Host {
				return fmt.Errorf("redirect to %s: %w", req.URL, loadtest.ErrNotLoopback)
			}
			return nil
		}}
	return &browser{base: base, rng: rng, tr: tr, hc: hc}
}

// get fetches u and returns its status and body (status 0 on a
// connection error).
func (c *browser) get(u *url.URL) (int, []byte) {
	resp, err := c.hc.Get(u.String())
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, b
}

// load makes one page load: a page of the mix (or a missing one) and,
// for a 2xx page, every same-origin asset it references, one level of
// stylesheet references included.
func (c *browser) load(cfg Config, total int) Load {
	var l Load
	if cfg.MissingShare > 0 && c.rng.Float64() < cfg.MissingShare {
		l.Path, l.Missing = cfg.Missing[c.rng.IntN(len(cfg.Missing))], true
	} else {
		n := c.rng.IntN(total)
		for _, p := range cfg.Pages {
			if n < p.Weight {
				l.Path = p.Path
				break
			}
			n -= p.Weight
		}
	}
	pu, _ := c.base.Parse(l.Path) // the mix's paths are the test's own
	l.At = time.Now()
	status, body := c.get(pu)
	l.Status = status
	if status < 200 || status > 299 {
		return l
	}
	l.Release = marker(body)
	seen := map[string]bool{pu.Path: true}
	queue := loadtest.Refs(pu, body, false)
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		if a.Host != c.base.Host || seen[a.Path] {
			continue
		}
		seen[a.Path] = true
		st, b := c.get(a)
		if st < 200 || st > 299 {
			l.Failed++
			continue
		}
		if id := marker(b); id != "" && l.Release != "" && id != l.Release {
			l.Mixed = true
		}
		if strings.HasSuffix(a.Path, ".css") {
			queue = append(queue, loadtest.Refs(a, b, true)...)
		}
	}
	return l
}

func marker(b []byte) string {
	if m := loadtest.DefaultMarker.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

package accesslog

import (
	"math/bits"
	"sort"
	"sync"
	"time"
)

// Counts are the requests of one release over a span of time.
type Counts struct {
	Requests  int64
	Pages     int64 // requests whose path IsPage
	Page404   int64 // pages answered 404
	Other4xx  int64 // other 4xx answers (any path, pages' 404 excepted)
	Server5xx int64 // 5xx answers (any path)
	// PageErrors are pages answered 404 or 5xx.
	PageErrors int64
	// P50, P90 and P99 are request-time percentiles from a fixed log-scale
	// histogram: exact below 1ms (reported as 0), then 8 buckets per doubling,
	// so a percentile is the upper bound of its bucket, at most 12.5% above the
	// true value; times of 2^20 ms (~17 min) and more fall in the last bucket.
	P50, P90, P99 time.Duration
}

// PageErrorRate is PageErrors/Pages in percent; 0 when Pages == 0.
func (c Counts) PageErrorRate() float64 {
	if c.Pages == 0 {
		return 0
	}
	return 100 * float64(c.PageErrors) / float64(c.Pages)
}

const (
	subBuckets  = 8
	octaves     = 20
	histBuckets = 1 + octaves*subBuckets
)

// histIndex maps a duration to its histogram bucket: 0 below 1ms, then
// 8 buckets per power of two of milliseconds.
func histIndex(d time.Duration) int {
	us := int64(d / time.Microsecond)
	if us < 1000 {
		return 0
	}
	// Value in units of 1ms/8 so that the first octave [1ms,2ms) has 8 buckets.
	v := uint64(us * subBuckets / 1000) // >= 8
	o := bits.Len64(v) - 4              // octave: 0 for [8,16)
	sub := int(v>>uint(o)) - subBuckets // 0..7
	i := 1 + o*subBuckets + sub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histUpper is the exclusive upper bound of bucket i.
func histUpper(i int) time.Duration {
	if i == 0 {
		return 0
	}
	o := (i - 1) / subBuckets
	sub := (i - 1) % subBuckets
	v := uint64(subBuckets+sub+1) << uint(o) // in ms/8
	return time.Duration(v) * time.Millisecond / subBuckets
}

type raw struct {
	requests, pages, page404, other4xx, server5xx, pageErrors int64
	hist                                                      [histBuckets]int64
}

func (r *raw) add(e *Entry) {
	r.requests++
	page := IsPage(e.Path)
	if page {
		r.pages++
	}
	switch {
	case e.Status == 404 && page:
		r.page404++
		r.pageErrors++
	case e.Status >= 400 && e.Status < 500:
		r.other4xx++
	case e.Status >= 500 && e.Status < 600:
		r.server5xx++
		if page {
			r.pageErrors++
		}
	}
	r.hist[histIndex(e.Duration)]++
}

func (r *raw) merge(o *raw) {
	r.requests += o.requests
	r.pages += o.pages
	r.page404 += o.page404
	r.other4xx += o.other4xx
	r.server5xx += o.server5xx
	r.pageErrors += o.pageErrors
	for i := range r.hist {
		r.hist[i] += o.hist[i]
	}
}

func (r *raw) percentile(p float64) time.Duration {
	if r.requests == 0 {
		return 0
	}
	rank := int64(p*float64(r.requests) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	var n int64
	for i, c := range r.hist {
		n += c
		if n >= rank {
			return histUpper(i)
		}
	}
	return histUpper(histBuckets - 1)
}

type perRelease struct {
	release string
	raw
}

type second struct {
	unix int64 // the second this bucket holds; 0 when never used
	rels []*perRelease
}

// Window keeps per-release counts over a sliding window of time, in
// one-second buckets keyed by the entries' own times (not the clock): the
// window ends at the newest entry's second, and entries older than span
// before it are dropped. Memory is bounded by span seconds × releases seen
// in each second × ~1.4 KiB. Safe for concurrent use.
type Window struct {
	mu   sync.Mutex
	secs []second
	head int64 // newest second added
}

// NewWindow returns a window that holds span (rounded up to whole seconds, at least one).
func NewWindow(span time.Duration) *Window {
	n := int((span + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	return &Window{secs: make([]second, n)}
}

// Add counts e in its release's bucket for e.Time's second. Entries older
// than the window are ignored.
func (w *Window) Add(e Entry) {
	s := e.Time.Unix()
	n := int64(len(w.secs))
	w.mu.Lock()
	defer w.mu.Unlock()
	if s > w.head {
		w.head = s
	} else if s <= w.head-n {
		return
	}
	b := &w.secs[int(((s%n)+n)%n)]
	if b.unix != s {
		b.unix = s
		for _, r := range b.rels {
			r.raw = raw{}
		}
		b.rels = b.rels[:0]
	}
	for _, r := range b.rels {
		if r.release == e.Release {
			r.add(&e)
			return
		}
	}
	// Reuse a cleared perRelease left in the slice's capacity when there is one.
	var r *perRelease
	if len(b.rels) < cap(b.rels) {
		r = b.rels[:len(b.rels)+1][len(b.rels)]
	}
	if r == nil {
		r = &perRelease{}
	}
	r.release = e.Release
	r.raw = raw{}
	r.add(&e)
	b.rels = append(b.rels, r)
}

// Counts returns the counts of release over [from, to), clamped to what the
// window still holds.
func (w *Window) Counts(release string, from, to time.Time) Counts {
	f, t := from.Unix(), to.Unix()
	if to.After(time.Unix(t, 0)) {
		t++ // a partial second at the end counts
	}
	var sum raw
	w.mu.Lock()
	n := int64(len(w.secs))
	for i := range w.secs {
		b := &w.secs[i]
		if b.unix < f || b.unix >= t || b.unix <= w.head-n {
			continue
		}
		for _, r := range b.rels {
			if r.release == release {
				sum.merge(&r.raw)
			}
		}
	}
	w.mu.Unlock()
	return Counts{
		Requests: sum.requests, Pages: sum.pages, Page404: sum.page404,
		Other4xx: sum.other4xx, Server5xx: sum.server5xx, PageErrors: sum.pageErrors,
		P50: sum.percentile(0.50), P90: sum.percentile(0.90), P99: sum.percentile(0.99),
	}
}

// Releases returns the releases with requests in the window, sorted.
func (w *Window) Releases() []string {
	seen := map[string]bool{}
	w.mu.Lock()
	n := int64(len(w.secs))
	for i := range w.secs {
		b := &w.secs[i]
		if b.unix <= w.head-n {
			continue
		}
		for _, r := range b.rels {
			seen[r.release] = true
		}
	}
	w.mu.Unlock()
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

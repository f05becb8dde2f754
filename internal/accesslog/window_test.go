package accesslog

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

var t0 = time.Unix(1700000000, 0)

// at returns an entry of release rel at t0 + sec seconds (+ ms milliseconds).
func at(rel string, sec, ms int, status int, path string) Entry {
	return Entry{Time: t0.Add(time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond), Status: status, Path: path, Release: rel, Duration: time.Millisecond}
}

func sec(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// counts drops the percentiles, for comparing the counters alone.
func counts(c Counts) Counts { c.P50, c.P90, c.P99 = 0, 0, 0; return c }

func TestWindowCountsByKind(t *testing.T) {
	w := NewWindow(time.Minute)
	for _, e := range []Entry{
		at("v1", 0, 0, 200, "/"),
		at("v1", 0, 1, 200, "/css/a.css"),
		at("v1", 0, 2, 304, "/docs/"),
		at("v1", 0, 3, 404, "/gone.html"),    // page 404
		at("v1", 0, 4, 404, "/img/gone.png"), // asset 404: other 4xx
		at("v1", 0, 5, 403, "/private/"),     // page 403: other 4xx
		at("v1", 0, 6, 500, "/broken"),       // page 5xx
		at("v1", 0, 7, 502, "/js/app.js"),    // asset 5xx
		at("v1", 0, 8, 499, "/"),             // client gone: other 4xx
		at("v2", 0, 9, 404, "/"),             // another release
		at("", 0, 10, 500, "/"),              // no release (not a release root)
	} {
		w.Add(e)
	}
	got := counts(w.Counts("v1", sec(0), sec(1)))
	want := Counts{Requests: 9, Pages: 6, Page404: 1, Other4xx: 3, Server5xx: 2, PageErrors: 2}
	if got != want {
		t.Errorf("v1: %+v\nwant %+v", got, want)
	}
	if r := got.PageErrorRate(); r != 100*2.0/6 {
		t.Errorf("PageErrorRate %v", r)
	}
	if got := counts(w.Counts("v2", sec(0), sec(1))); got != (Counts{Requests: 1, Pages: 1, Page404: 1, PageErrors: 1}) {
		t.Errorf("v2: %+v", got)
	}
	if got := counts(w.Counts("", sec(0), sec(1))); got != (Counts{Requests: 1, Pages: 1, Server5xx: 1, PageErrors: 1}) {
		t.Errorf(`"": %+v`, got)
	}
	if got := w.Counts("v9", sec(0), sec(1)); got != (Counts{}) || got.PageErrorRate() != 0 {
		t.Errorf("unknown release: %+v, rate %v", got, got.PageErrorRate())
	}
	if got := w.Releases(); !reflect.DeepEqual(got, []string{"", "v1", "v2"}) {
		t.Errorf("Releases() = %q", got)
	}
}

// Counts(from, to) holds the seconds s with from <= s < to, whole: a
// from or to inside a second counts that second.
func TestWindowSpan(t *testing.T) {
	w := NewWindow(time.Minute)
	for s := 0; s < 10; s++ {
		for i := 0; i <= s; i++ { // s+1 requests in second s
			w.Add(at("v1", s, i, 200, "/"))
		}
		w.Add(at("v2", s, 999, 200, "/")) // one a second
	}
	n := func(from, to int) int64 { return w.Counts("v1", sec(from), sec(to)).Requests }
	for _, tc := range []struct {
		from, to int
		want     int64
	}{
		{0, 10, 55},
		{0, 1, 1},
		{2, 4, 3 + 4},
		{9, 10, 10},
		{9, 100, 10},
		{-100, 1, 1},
		{3, 3, 0},
		{5, 2, 0},
		{10, 20, 0},
	} {
		if got := n(tc.from, tc.to); got != tc.want {
			t.Errorf("Counts(v1, %d, %d).Requests = %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
	// A partial second at either end counts whole.
	if got := w.Counts("v1", sec(2).Add(500*time.Millisecond), sec(3).Add(time.Millisecond)).Requests; got != 3+4 {
		t.Errorf("partial seconds: %d, want %d", got, 3+4)
	}
	if got := w.Counts("v2", sec(0), sec(10)).Requests; got != 10 {
		t.Errorf("v2: %d", got)
	}
}

// The window ends at the newest entry's second and holds span seconds: older
// seconds slide out, entries older than the window are ignored, and a bucket
// reused for a new second starts empty.
func TestWindowSlides(t *testing.T) {
	w := NewWindow(10 * time.Second)
	all := func(rel string) int64 { return w.Counts(rel, sec(-1000), sec(1000)).Requests }
	w.Add(at("v1", 0, 0, 200, "/"))
	w.Add(at("v1", 5, 0, 200, "/"))
	w.Add(at("v1", 9, 0, 200, "/"))
	if got := all("v1"); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}
	w.Add(at("v2", 10, 0, 200, "/")) // second 0 slides out; 10 reuses its bucket
	if got := all("v1"); got != 2 {
		t.Errorf("after second 10: %d requests of v1, want 2", got)
	}
	if got := w.Counts("v1", sec(0), sec(1)).Requests; got != 0 {
		t.Errorf("second 0 still counted: %d", got)
	}
	w.Add(at("v1", 0, 500, 200, "/")) // older than the window: ignored
	w.Add(at("v1", 1, 0, 200, "/"))   // still inside (seconds 1..10)
	if got := all("v1"); got != 3 {
		t.Errorf("after a late entry: %d requests of v1, want 3", got)
	}
	if got := w.Releases(); !reflect.DeepEqual(got, []string{"v1", "v2"}) {
		t.Errorf("Releases() = %q", got)
	}
	// A jump far ahead empties everything older.
	w.Add(at("v3", 100, 0, 200, "/"))
	if all("v1") != 0 || all("v2") != 0 || all("v3") != 1 {
		t.Errorf("after a jump: v1 %d, v2 %d, v3 %d", all("v1"), all("v2"), all("v3"))
	}
	if got := w.Releases(); !reflect.DeepEqual(got, []string{"v3"}) {
		t.Errorf("Releases() = %q", got)
	}
	// The bucket of second 105 was used by 5 and 95 (not since 100): empty.
	w.Add(at("v3", 105, 0, 404, "/"))
	if got := counts(w.Counts("v3", sec(105), sec(106))); got != (Counts{Requests: 1, Pages: 1, Page404: 1, PageErrors: 1}) {
		t.Errorf("reused bucket: %+v", got)
	}
	// Entries slide by their own time, not the clock: nothing moves
	// without a newer entry.
	if got := all("v3"); got != 2 {
		t.Errorf("v3: %d", got)
	}

	// Spans round up to whole seconds, at least one.
	for span, n := range map[time.Duration]int{0: 1, -time.Second: 1, time.Millisecond: 1, 1500 * time.Millisecond: 2, time.Minute: 60} {
		if got := len(NewWindow(span).secs); got != n {
			t.Errorf("NewWindow(%v) holds %d seconds, want %d", span, got, n)
		}
	}
	w1 := NewWindow(0)
	w1.Add(at("v1", 0, 0, 200, "/"))
	w1.Add(at("v1", 1, 0, 200, "/"))
	if got := w1.Counts("v1", sec(0), sec(2)).Requests; got != 1 {
		t.Errorf("one-second window: %d requests, want 1", got)
	}
}

// Percentiles are the upper bound of a log-scale bucket: never below the
// true value, at most 12.5% above it, 0 below 1ms, at most 2^20 ms.
func TestWindowPercentiles(t *testing.T) {
	check := func(name string, got, truth time.Duration) {
		t.Helper()
		switch {
		case truth < time.Millisecond:
			if got != 0 {
				t.Errorf("%s: %v for %v, want 0", name, got, truth)
			}
		case truth >= 1<<20*time.Millisecond:
			if got != 1<<20*time.Millisecond {
				t.Errorf("%s: %v for %v, want the last bucket's %v", name, got, truth, 1<<20*time.Millisecond)
			}
		case got < truth || float64(got) > 1.125*float64(truth):
			t.Errorf("%s: %v for %v (%.3f×), want within [1, 1.125]×", name, got, truth, float64(got)/float64(truth))
		}
	}
	// One request: every percentile is its time. Sweep 0 to 20 min in
	// steps of ~1%.
	for d := time.Duration(1); d < 20*time.Minute; d += d/100 + 1 {
		w := NewWindow(time.Second)
		w.Add(Entry{Time: t0, Duration: d, Status: 200, Release: "v1"})
		c := w.Counts("v1", t0, t0.Add(time.Second))
		check("p50", c.P50, d)
		check("p99", c.P99, d)
	}
	// 1000 requests of 1..1000 ms in one second (added out of order): the
	// true p50, p90, p99 are 500, 900, 990 ms.
	w := NewWindow(time.Second)
	for i := 0; i < 1000; i++ {
		ms := (i*7919)%1000 + 1
		w.Add(Entry{Time: t0, Duration: time.Duration(ms) * time.Millisecond, Status: 200, Release: "v1"})
	}
	c := w.Counts("v1", t0, t0.Add(time.Second))
	check("p50 of 1..1000ms", c.P50, 500*time.Millisecond)
	check("p90 of 1..1000ms", c.P90, 900*time.Millisecond)
	check("p99 of 1..1000ms", c.P99, 990*time.Millisecond)
	// Merged over seconds: 90 fast requests in one second, 10 slow in the next.
	w = NewWindow(time.Minute)
	for i := 0; i < 100; i++ {
		d := 2 * time.Millisecond
		s := 0
		if i >= 90 {
			d, s = 3*time.Second, 1
		}
		w.Add(Entry{Time: sec(s), Duration: d, Status: 200, Release: "v1"})
	}
	c = w.Counts("v1", sec(0), sec(2))
	check("p50 merged", c.P50, 2*time.Millisecond)
	check("p90 merged", c.P90, 2*time.Millisecond)
	check("p99 merged", c.P99, 3*time.Second)
	if w.Counts("v1", sec(1), sec(2)).P50 < 3*time.Second {
		t.Errorf("p50 of the slow second alone: %v", w.Counts("v1", sec(1), sec(2)).P50)
	}
}

// Add, Counts and Releases from many goroutines (run with -race): nothing
// is lost or counted twice.
func TestWindowConcurrent(t *testing.T) {
	w := NewWindow(time.Minute)
	const writers, per = 4, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := w.Counts("v1", sec(0), sec(60))
				if c.Requests > writers*per/2 || c.Pages != c.Requests {
					t.Errorf("inconsistent counts %+v", c)
					return
				}
				w.Releases()
			}
		}()
	}
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				w.Add(at(fmt.Sprintf("v%d", 1+i%2), i%30, g, 200, "/"))
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for _, rel := range []string{"v1", "v2"} {
		if got := w.Counts(rel, sec(0), sec(60)).Requests; got != writers*per/2 {
			t.Errorf("%s: %d requests, want %d", rel, got, writers*per/2)
		}
	}
}

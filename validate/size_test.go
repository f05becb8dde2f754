package validate

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// TestSizeBudgetsEveryKey runs every size limit (MaxBytes, MaxGzip,
// MaxGrowth, MaxGrowthBytes, group and per file, and MaxTotalBytes) with
// no live release, with a live release, and with a live release lacking
// the file, within and over the limit: Check never panics (it did with
// a budget and no live counterpart, issue 14) and reports a size finding
// exactly when a limit is exceeded.
func TestSizeBudgetsEveryKey(t *testing.T) {
	big := strings.Repeat("x", 4000)
	site := fstest.MapFS{
		"index.html": page(`<!doctype html><title>home</title><script src="app.js"></script>`),
		"app.js":     page(big),
	}
	liveSmall := fstest.MapFS{
		"index.html": page(`<!doctype html><title>home</title><script src="app.js"></script>`),
		"app.js":     page(big[:1000]),
	}
	liveWithout := fstest.MapFS{"index.html": site["index.html"]}
	type limit struct {
		name string
		set  func(o *Options, perFile bool, over bool)
		// needsLive: the limit compares with live (no finding without one,
		// nor when live lacks the file).
		needsLive bool
	}
	budget := func(b Budget) func(*Options, bool, bool) {
		return func(o *Options, perFile, _ bool) { b.Glob, b.PerFile = "**", perFile; o.Budgets = []Budget{b} }
	}
	pick := func(over bool, lo, hi int64) int64 {
		if over {
			return lo
		}
		return hi
	}
	limits := []limit{
		{name: "MaxBytes", set: func(o *Options, perFile, over bool) {
			budget(Budget{MaxBytes: pick(over, 100, 1<<20)})(o, perFile, over)
		}},
		{name: "MaxGzip", set: func(o *Options, perFile, over bool) {
			budget(Budget{MaxGzip: pick(over, 10, 1<<20)})(o, perFile, over)
		}},
		{name: "MaxGrowth", needsLive: true, set: func(o *Options, perFile, over bool) {
			g := 0.5
			if !over {
				g = 100
			}
			budget(Budget{MaxGrowth: g})(o, perFile, over)
		}},
		{name: "MaxGrowthBytes", needsLive: true, set: func(o *Options, perFile, over bool) {
			budget(Budget{MaxGrowthBytes: pick(over, 100, 1<<20)})(o, perFile, over)
		}},
		{name: "MaxTotalBytes", set: func(o *Options, _, over bool) { o.MaxTotalBytes = pick(over, 100, 1<<20) }},
	}
	lives := []struct {
		name       string
		fs         fstest.MapFS
		comparable bool
	}{{"no live release", nil, false}, {"live release", liveSmall, true}, {"live release without the file", liveWithout, false}}
	for _, l := range limits {
		for _, perFile := range []bool{false, true} {
			for _, lv := range lives {
				for _, over := range []bool{false, true} {
					name := fmt.Sprintf("%s/perFile=%v/%s/over=%v", l.name, perFile, lv.name, over)
					t.Run(name, func(t *testing.T) {
						rep := check(t, site, lv.fs, func(o *Options) {
							o.ShrinkLimit = 0
							l.set(o, perFile, over)
						})
						want := over
						if l.needsLive && !lv.comparable {
							// Group growth against a live release without
							// the file still compares the group (index.html).
							want = over && !perFile && lv.fs != nil
						}
						if got := len(refs(rep, KindSize)) > 0; got != want {
							t.Fatalf("size findings %v, want %v: %+v", refs(rep, KindSize), want, rep.Findings)
						}
					})
				}
			}
		}
	}
}

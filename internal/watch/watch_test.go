package watch

import (
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	base := Figures{Pages: 480, PageErrors: 2} // 0.4%
	tests := []struct {
		name   string
		in     Input
		want   Decision
		reason string
	}{
		{"broken release rolls back at once",
			Input{New: Figures{520, 41}, Baseline: base, MaxErrorRate: 2, MinRequests: 100},
			Rollback, "page error rate 7.9% (41/520) vs 0.4% (2/480) before, threshold +2.0 points"},
		{"too few requests stays pending however bad",
			Input{New: Figures{99, 99}, Baseline: base, MaxErrorRate: 2, MinRequests: 100},
			Pending, "99 of 100 page requests so far"},
		{"exactly min_requests is enough to roll back",
			Input{New: Figures{100, 10}, Baseline: base, MaxErrorRate: 2, MinRequests: 100},
			Rollback, "10.0% (10/100)"},
		{"excess equal to the threshold is tolerated",
			Input{New: Figures{100, 3}, Baseline: Figures{100, 1}, MaxErrorRate: 2, MinRequests: 100},
			Pending, "3.0% (3/100) vs 1.0% (1/100) before"},
		{"excess equal to the threshold despite float rounding is tolerated",
			Input{New: Figures{300, 14}, Baseline: Figures{300, 8}, MaxErrorRate: 2, MinRequests: 100},
			Pending, "4.7% (14/300) vs 2.7% (8/300) before"},
		{"excess just over the threshold rolls back",
			Input{New: Figures{1000, 31}, Baseline: Figures{100, 1}, MaxErrorRate: 2, MinRequests: 100},
			Rollback, "3.1% (31/1000)"},
		{"healthy release passes when the window ends",
			Input{New: Figures{500, 2}, Baseline: base, MaxErrorRate: 2, MinRequests: 100, WindowOver: true},
			Pass, "0.4% (2/500) vs 0.4% (2/480) before"},
		{"healthy release is pending during the window",
			Input{New: Figures{500, 2}, Baseline: base, MaxErrorRate: 2, MinRequests: 100},
			Pending, ""},
		{"quiet release is not judged, not rolled back",
			Input{New: Figures{20, 20}, Baseline: base, MaxErrorRate: 2, MinRequests: 100, WindowOver: true},
			NotJudged, "only 20 page requests in the window, fewer than min_requests 100"},
		{"no traffic at all is not judged",
			Input{Baseline: base, MaxErrorRate: 2, MinRequests: 100, WindowOver: true},
			NotJudged, "0.0% (0/0)"},
		{"bad baseline hides nothing it should not: same rate passes",
			Input{New: Figures{200, 20}, Baseline: Figures{200, 20}, MaxErrorRate: 2, MinRequests: 100, WindowOver: true},
			Pass, "10.0% (20/200) vs 10.0% (20/200) before"},
		{"quiet baseline: judged against 0%, rolled back above the threshold",
			Input{New: Figures{200, 5}, Baseline: Figures{10, 5}, MaxErrorRate: 2, MinRequests: 100},
			Rollback, "baseline too quiet, judged against 0%"},
		{"quiet baseline: judged against 0%, passes within the threshold",
			Input{New: Figures{200, 4}, Baseline: Figures{10, 5}, MaxErrorRate: 2, MinRequests: 100, WindowOver: true},
			Pass, "2.0% (4/200) vs 50.0% (5/10) before (baseline too quiet"},
		{"canary is compared with the stable cohort",
			Input{New: Figures{120, 30}, Baseline: Figures{1080, 4}, Against: "stable v3", MaxErrorRate: 2, MinRequests: 50},
			Rollback, "vs 0.4% (4/1080) stable v3, threshold +2.0 points"},
		{"min_requests 0 never rolls back on zero pages",
			Input{MaxErrorRate: 0, MinRequests: 0, Baseline: Figures{0, 0}},
			Pending, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Judge(tt.in)
			if v.Decision != tt.want {
				t.Fatalf("Decision = %s, want %s (reason %q)", v.Decision, tt.want, v.Reason)
			}
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", v.Reason, tt.reason)
			}
			if v.New != tt.in.New || v.Baseline != tt.in.Baseline {
				t.Errorf("Verdict figures = %+v/%+v, want %+v/%+v", v.New, v.Baseline, tt.in.New, tt.in.Baseline)
			}
		})
	}
}

// TestJudgeMonotone: once a release has enough page requests, adding
// errors never turns a rollback back into anything else, and the end of
// the window never turns a rollback into a pass.
func TestJudgeMonotone(t *testing.T) {
	base := Figures{Pages: 300, PageErrors: 3}
	for pages := 100; pages <= 400; pages += 50 {
		rolledBack := false
		for errs := 0; errs <= pages; errs++ {
			for _, over := range []bool{false, true} {
				v := Judge(Input{New: Figures{pages, errs}, Baseline: base, MaxErrorRate: 2, MinRequests: 100, WindowOver: over})
				if over && v.Decision == Pending {
					t.Fatalf("%d/%d: pending after the window", errs, pages)
				}
				if !over && v.Decision.Final() && v.Decision != Rollback {
					t.Fatalf("%d/%d: %s before the window ended", errs, pages, v.Decision)
				}
				if rolledBack && v.Decision != Rollback {
					t.Fatalf("%d/%d (window over %v): %s after a smaller error count rolled back", errs, pages, over, v.Decision)
				}
			}
			if Judge(Input{New: Figures{pages, errs}, Baseline: base, MaxErrorRate: 2, MinRequests: 100}).Decision == Rollback {
				rolledBack = true
			}
		}
		if !rolledBack {
			t.Fatalf("%d pages: no error count rolled back", pages)
		}
	}
}

func TestFiguresRate(t *testing.T) {
	if r := (Figures{}).Rate(); r != 0 {
		t.Errorf("empty Rate = %v", r)
	}
	if r := (Figures{Pages: 8, PageErrors: 2}).Rate(); r != 25 {
		t.Errorf("Rate = %v, want 25", r)
	}
}

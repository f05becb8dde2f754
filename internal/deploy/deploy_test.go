package deploy

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/internal/carry"
	"github.com/example/release-agent/internal/ingest/safewrite"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

// tree is a small site: slash path -> content.
type tree map[string]string

// with returns a copy of t with the files of u added or replaced (an
// empty content removes the file).
func (t tree) with(u tree) tree {
	out := tree{}
	for p, c := range t {
		out[p] = c
	}
	for p, c := range u {
		if c == "" {
			delete(out, p)
		} else {
			out[p] = c
		}
	}
	return out
}

// site passes validation with the default options; its two assets get
// content-hashed names.
var site = tree{
	"index.html":   `<!doctype html><title>home</title><link rel="stylesheet" href="/css/site.css"><script src="/js/app.js"></script><a href="/about.html">about</a>`,
	"about.html":   `<!doctype html><title>about</title><a href="/">home</a>`,
	"guide.html":   `<!doctype html><title>guide</title><a href="/about.html">about</a>`,
	"faq.html":     `<!doctype html><title>faq</title><a href="/">home</a>`,
	"css/site.css": `body { color: #333 }`,
	"js/app.js":    `console.log("app v1");`,
}

// broken has a link that its live release (site) does not have.
var broken = site.with(tree{"about.html": `<!doctype html><title>about</title><a href="/missing.html">gone</a>`})

func writeTree(t *testing.T, dir string, tr tree) string {
	t.Helper()
	for p, c := range tr {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dirSource writes tr to a fresh directory and returns it.
func dirSource(tr tree) func(t *testing.T) string {
	return func(t *testing.T) string { return writeTree(t, t.TempDir(), tr) }
}

// tarGzSource writes tr as a .tar.gz and returns its path; truncate > 0
// cuts the archive to that many bytes.
func tarGzSource(tr tree, truncate int) func(t *testing.T) string {
	return func(t *testing.T) string {
		p := filepath.Join(t.TempDir(), "site.tar.gz")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(f)
		tw := tar.NewWriter(zw)
		names := make([]string, 0, len(tr))
		for n := range tr {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(tr[n])), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write([]byte(tr[n])); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if truncate > 0 {
			if err := os.Truncate(p, int64(truncate)); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
}

func newStore(t *testing.T) *releases.Store {
	t.Helper()
	s, err := releases.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hashing() Stage { return HashStage{} }

// validating returns a ValidateStage with the default options changed by
// each of mods.
func validating(mods ...func(*validate.Options)) Stage {
	o := validate.DefaultOptions()
	o.Workers = 2
	for _, m := range mods {
		m(&o)
	}
	return ValidateStage{Options: o}
}

func budgets(bs ...validate.Budget) func(*validate.Options) {
	return func(o *validate.Options) { o.Budgets = bs }
}

// blockStage waits for ctx to end, as a stage stuck on a slow disk would.
type blockStage struct{}

func (blockStage) Name() string { return "block" }
func (blockStage) Run(ctx context.Context, w *Work) error {
	<-ctx.Done()
	return ctx.Err()
}

// snapshot returns every file of dir with its content.
func snapshot(t *testing.T, dir string) tree {
	t.Helper()
	out := tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// extrasOf returns the kinds of the extras stored for id, sorted.
func extrasOf(t *testing.T, s *releases.Store, id string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.StateDir(), "reports"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if k, ok := strings.CutPrefix(e.Name(), id+"."); ok {
			out = append(out, strings.TrimSuffix(k, ".json"))
		}
	}
	sort.Strings(out)
	return out
}

func deployTree(t *testing.T, s *releases.Store, tr tree, stages ...Stage) *Result {
	t.Helper()
	res, err := Deploy(t.Context(), s, Request{Source: dirSource(tr)(t), Activate: true, Stages: stages, BeforeSwitch: CarryOnSwitch(t.Context(), s)})
	if err != nil {
		t.Fatalf("deploying the live release: %v", err)
	}
	return res
}

// TestDeploy runs one deploy per case on a fresh store (after deploying
// live, if set) and checks what the package documentation promises.
func TestDeploy(t *testing.T) {
	const timeoutCause = "deploy timed out after 50ms (test)"
	type want struct {
		// err, if set, is what errors.Is must find; nil means success.
		err error
		// status of the new id; "" means no id was allocated.
		status releases.Status
		// extras stored for the new id, sorted.
		extras []string
		// activated: current points at the new release.
		activated bool
		// findings: kinds that must be among the report's blocking findings.
		findings []string
	}
	tests := []struct {
		name   string
		live   tree // deployed first (hash + validate, activated); nil: none
		src    func(t *testing.T) string
		stages []Stage
		req    func(*Request)
		ctx    func(t *testing.T) context.Context
		want   want
	}{
		{
			name:   "hash and validate, first release",
			src:    dirSource(site),
			stages: []Stage{hashing(), validating()},
			want:   want{status: releases.StatusStaged, extras: []string{"hashes", "report"}, activated: true},
		},
		{
			name:   "hash and validate over a live release, from a tar.gz",
			live:   site,
			src:    tarGzSource(site.with(tree{"js/app.js": `console.log("app v2");`}), 0),
			stages: []Stage{hashing(), validating()},
			want:   want{status: releases.StatusStaged, extras: []string{"hashes", "report"}, activated: true},
		},
		{
			name:   "hashing without validation saves only the hashes",
			live:   site,
			src:    dirSource(site),
			stages: []Stage{hashing()},
			req:    func(r *Request) { r.Force = true }, // the content is live's
			want:   want{status: releases.StatusStaged, extras: []string{"hashes"}, activated: true},
		},
		{
			name:   "validation without hashing saves only the report",
			src:    dirSource(site),
			stages: []Stage{validating()},
			want:   want{status: releases.StatusStaged, extras: []string{"report"}, activated: true},
		},
		{
			name: "no stages saves no extras",
			src:  dirSource(site),
			want: want{status: releases.StatusStaged, activated: true},
		},
		{
			name:   "stage only",
			live:   site,
			src:    dirSource(site.with(tree{"faq.html": `<!doctype html><title>faq 2</title>`})),
			stages: []Stage{hashing(), validating()},
			req:    func(r *Request) { r.Activate = false },
			want:   want{status: releases.StatusStaged, extras: []string{"hashes", "report"}},
		},
		{
			name:   "rejected by validation: a new broken link",
			live:   site,
			src:    dirSource(broken),
			stages: []Stage{hashing(), validating()},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindLink}},
		},
		{
			name:   "rejected by validation: required index.html missing, first release",
			src:    dirSource(site.with(tree{"index.html": ""})),
			stages: []Stage{hashing(), validating()},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindRequired}},
		},
		{
			name:   "fetch fails: missing source",
			live:   site,
			src:    func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.tar.gz") },
			stages: []Stage{hashing(), validating()},
			want:   want{err: fs.ErrNotExist},
		},
		{
			name:   "fetch fails: truncated archive",
			live:   site,
			src:    tarGzSource(site, 100),
			stages: []Stage{hashing(), validating()},
			want:   want{err: errAny, status: releases.StatusFailed},
		},
		{
			name:   "fetch fails: over the file limit",
			src:    dirSource(site),
			stages: []Stage{hashing(), validating()},
			req:    func(r *Request) { r.Limits = safewrite.Limits{MaxFiles: 2} },
			want:   want{err: safewrite.ErrLimit, status: releases.StatusFailed},
		},
		{
			name:   "cancelled before fetch",
			live:   site,
			src:    dirSource(site),
			stages: []Stage{hashing(), validating()},
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				return ctx
			},
			want: want{err: context.Canceled, status: releases.StatusFailed},
		},
		{
			name:   "timeout in a stage after hashing",
			live:   site,
			src:    dirSource(site.with(tree{"js/app.js": `console.log("app v3");`})),
			stages: []Stage{hashing(), blockStage{}, validating()},
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeoutCause(t.Context(), 50*time.Millisecond, errors.New(timeoutCause))
				t.Cleanup(cancel)
				return ctx
			},
			want: want{err: context.DeadlineExceeded, status: releases.StatusFailed},
		},
		// Size budgets (validate.Options.Budgets, MaxTotalBytes,
		// ShrinkLimit), with and without a live release.
		{
			name:   "budget MaxBytes, no live release, within",
			src:    dirSource(site),
			stages: []Stage{hashing(), validating(budgets(validate.Budget{Glob: "**/*.js", MaxBytes: 1000}))},
			want:   want{status: releases.StatusStaged, extras: []string{"hashes", "report"}, activated: true},
		},
		{
			name:   "budget MaxBytes, no live release, over",
			src:    dirSource(site),
			stages: []Stage{hashing(), validating(budgets(validate.Budget{Glob: "**/*.js", MaxBytes: 10}))},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindSize}},
		},
		{
			name:   "budget MaxBytes per file, no live release, over",
			src:    dirSource(site),
			stages: []Stage{hashing(), validating(budgets(validate.Budget{Glob: "**/*.{js,css}", MaxBytes: 21, PerFile: true}))},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindSize}},
		},
		{
			name:   "budget MaxBytes per file, live release, a file live does not have",
			live:   site,
			src:    dirSource(site.with(tree{"js/extra.js": `console.log("new");`})),
			stages: []Stage{hashing(), validating(budgets(validate.Budget{Glob: "**/*.js", MaxBytes: 1000, PerFile: true}))},
			want:   want{status: releases.StatusStaged, extras: []string{"hashes", "report"}, activated: true},
		},
		{
			name:   "budget MaxGzip, no live release, over",
			src:    dirSource(site),
			stages: []Stage{hashing(), validating(budgets(validate.Budget{Glob: "**/*.js", MaxGzip: 10}))},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindSize}},
		},
		{
			name:   "budget MaxGrowth per file, live release",
			live:   site,
			src:    dirSource(site.with(tree{"js/app.js": `console.log("app v2, twice as big as before");`})),
			stages: []Stage{hashing(), validating(budgets(validate.Budget{Glob: "**/*.js", MaxGrowth: 0.1, PerFile: true}))},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindSize}},
		},
		{
			// Live has js/app.js and its hashed copy: only the live
			// logical names (Work.LiveLogical) make them one file, so
			// that the group is seen to double rather than grow by half.
			name:   "budget MaxGrowth of the group, hashed names compared by logical path",
			live:   site,
			src:    dirSource(site.with(tree{"js/app.js": `console.log("app v2, twice as big as before");`})),
			stages: []Stage{hashing(), validating(budgets(validate.Budget{Glob: "**/*.js", MaxGrowth: 0.6}))},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindSize}},
		},
		{
			name:   "budget MaxGrowth of the group, no live release",
			src:    dirSource(site),
			stages: []Stage{hashing(), validating(budgets(validate.Budget{Glob: "**/*.js", MaxGrowth: 0.1}))},
			want:   want{status: releases.StatusStaged, extras: []string{"hashes", "report"}, activated: true},
		},
		{
			name:   "MaxTotalBytes over",
			src:    dirSource(site),
			stages: []Stage{hashing(), validating(func(o *validate.Options) { o.MaxTotalBytes = 100 })},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindSize}},
		},
		{
			name: "ShrinkLimit: most pages gone",
			live: site,
			src: dirSource(tree{
				"index.html":   `<!doctype html><title>home</title>`,
				"css/site.css": site["css/site.css"],
			}),
			stages: []Stage{hashing(), validating()},
			want:   want{err: ErrRejected, status: releases.StatusRejected, extras: []string{"report"}, findings: []string{validate.KindShrink}},
		},
		{
			name:   "ShrinkLimit off",
			live:   site,
			src:    dirSource(tree{"index.html": `<!doctype html><title>home</title>`}),
			stages: []Stage{hashing(), validating(func(o *validate.Options) { o.ShrinkLimit = 0 })},
			want:   want{status: releases.StatusStaged, extras: []string{"hashes", "report"}, activated: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			var live string
			if tt.live != nil {
				live = deployTree(t, s, tt.live, hashing(), validating()).Record.ID
			}
			var liveTree tree
			if live != "" {
				liveTree = snapshot(t, s.Dir(live))
			}
			before, err := s.Records()
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(t)
			}
			req := Request{Source: tt.src(t), Activate: true, Stages: tt.stages, BeforeSwitch: CarryOnSwitch(t.Context(), s)}
			if tt.req != nil {
				tt.req(&req)
			}
			res, err := Deploy(ctx, s, req)

			// The error.
			switch {
			case tt.want.err == nil && err != nil:
				t.Fatalf("Deploy: %v", err)
			case tt.want.err != nil && err == nil:
				t.Fatalf("Deploy succeeded, want an error (%v)", tt.want.err)
			case tt.want.err != nil && tt.want.err != errAny && !errors.Is(err, tt.want.err):
				t.Fatalf("Deploy: %v, want errors.Is %v", err, tt.want.err)
			}
			if errors.Is(tt.want.err, context.DeadlineExceeded) && !strings.Contains(err.Error(), timeoutCause) {
				t.Errorf("error %q does not give the cause %q", err, timeoutCause)
			}

			// The new id, its record and its tree.
			after, err := s.Records()
			if err != nil {
				t.Fatal(err)
			}
			var id string
			switch len(after) - len(before) {
			case 0:
			case 1:
				id = after[0].ID
				if after[0].Status != tt.want.status {
					t.Errorf("%s: status %q, want %q (error %q)", id, after[0].Status, tt.want.status, after[0].Error)
				}
				if tt.want.err != nil && after[0].Error == "" {
					t.Errorf("%s: failed record without an error", id)
				}
			default:
				t.Fatalf("%d new records", len(after)-len(before))
			}
			if id == "" && tt.want.status != "" {
				t.Fatalf("no id allocated, want one with status %q", tt.want.status)
			}
			if id != "" && tt.want.err == nil && (res.Record == nil || res.Record.ID != id) {
				t.Errorf("Result.Record = %+v, want %s", res.Record, id)
			}
			_, statErr := os.Stat(s.Dir(id))
			if hasTree := id != "" && statErr == nil; hasTree != (tt.want.err == nil) {
				t.Errorf("releases/%s exists: %v, want %v", id, hasTree, tt.want.err == nil)
			}
			if ents, err := os.ReadDir(filepath.Join(s.StateDir(), "staging")); err != nil || len(ents) != 0 {
				t.Errorf("state/staging: %v entries (%v), want none", len(ents), err)
			}

			// What was saved: the chosen extras, nothing else, for any id.
			if id != "" {
				if got := extrasOf(t, s, id); !slices.Equal(got, tt.want.extras) {
					t.Errorf("extras of %s: %q, want %q", id, got, tt.want.extras)
				}
			}
			ents, err := os.ReadDir(filepath.Join(s.StateDir(), "reports"))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				_, kind, _ := strings.Cut(strings.TrimSuffix(e.Name(), ".json"), ".")
				if kind != ReportExtra && kind != HashesExtra && kind != carry.CarriedExtra {
					t.Errorf("state/reports/%s: not an extra a deploy saves", e.Name())
				}
			}
			if id != "" && slices.Contains(tt.want.extras, HashesExtra) {
				paths, ok := carry.Hashed(s, id)
				if !ok {
					t.Errorf("carry.Hashed(%s): no hashes", id)
				}
				if n := len(LogicalNames(s, id)); n != len(paths) {
					t.Errorf("LogicalNames(%s) has %d names, carry.Hashed %d", id, n, len(paths))
				}
				for _, p := range paths {
					if _, err := os.Stat(filepath.Join(s.Dir(id), p)); tt.want.err == nil && err != nil {
						t.Errorf("hashed asset %s of %s: %v", p, id, err)
					}
				}
				if tt.want.err == nil && len(paths) != len(res.Hashes.Assets) {
					t.Errorf("saved hashes: %d assets, Result.Hashes %d", len(paths), len(res.Hashes.Assets))
				}
			}
			if id != "" && slices.Contains(tt.want.extras, ReportExtra) {
				var rep validate.Report
				if err := s.Extra(id, ReportExtra, &rep); err != nil {
					t.Fatal(err)
				}
				if rep.Rejected() != (tt.want.status == releases.StatusRejected) {
					t.Errorf("stored report: rejected %v, record status %s", rep.Rejected(), tt.want.status)
				}
				blocking := map[string]bool{}
				for k, c := range rep.Counts {
					if c.Blocking > 0 {
						blocking[k] = true
					}
				}
				for _, k := range tt.want.findings {
					if !blocking[k] {
						t.Errorf("stored report has no blocking %s finding: %+v", k, rep.Counts)
					}
				}
			}

			// The result.
			var rej *RejectedError
			if errors.As(err, &rej) {
				if rej.Report == nil || res.Report != rej.Report {
					t.Errorf("RejectedError.Report = %p, Result.Report = %p: want the same report", rej.Report, res.Report)
				}
			}
			if tt.want.err == nil {
				if (res.Report != nil) != slices.Contains(tt.want.extras, ReportExtra) {
					t.Errorf("Result.Report = %v, want one iff the report is saved", res.Report)
				}
				if (res.Hashes != nil) != slices.Contains(tt.want.extras, HashesExtra) {
					t.Errorf("Result.Hashes = %v, want one iff the hashes are saved", res.Hashes)
				}
				if res.Activated != tt.want.activated {
					t.Errorf("Result.Activated = %v, want %v", res.Activated, tt.want.activated)
				}
			}

			// What is live.
			cur, err := s.Current()
			if err != nil {
				t.Fatal(err)
			}
			wantCur := live
			if tt.want.activated {
				wantCur = id
			}
			if cur != wantCur {
				t.Errorf("current = %q, want %q", cur, wantCur)
			}
			if live != "" {
				if got := snapshot(t, s.Dir(live)); !equalTrees(got, liveTree) {
					t.Errorf("the live tree %s changed", live)
				}
			}
		})
	}
}

// errAny in want.err accepts any error.
var errAny = errors.New("any error")

func equalTrees(a, b tree) bool {
	if len(a) != len(b) {
		return false
	}
	for p, c := range a {
		if d, ok := b[p]; !ok || c != d {
			return false
		}
	}
	return true
}

// TestSavedExtras checks that a deploy saves the extras chosen at commit
// and nothing else under state/ (stage-internal data such as the hashed →
// logical name maps once leaked there as vN._logical.json).
func TestSavedExtras(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stages func() []Stage
		want   []string // the files of state/reports
	}{
		{"hashing without validation", func() []Stage { return []Stage{hashing()} }, []string{"v1.hashes.json", "v2.hashes.json"}},
		{"hashing and validation", func() []Stage { return []Stage{hashing(), validating()} }, []string{"v1.hashes.json", "v1.report.json", "v2.hashes.json", "v2.report.json"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			deployTree(t, s, site, tt.stages()...)
			res := deployTree(t, s, site.with(tree{"js/app.js": `console.log("app v2");`}), tt.stages()...)
			ents, err := os.ReadDir(filepath.Join(s.StateDir(), "reports"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.Name())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("state/reports: %q, want %q", got, tt.want)
			}
			filepath.WalkDir(s.StateDir(), func(p string, d fs.DirEntry, err error) error {
				if strings.Contains(d.Name(), "logical") {
					t.Errorf("%s: stage-internal data saved", p)
				}
				return nil
			})
			var hm struct {
				Assets []struct{ Logical, Hashed string }
			}
			if err := s.Extra(res.Record.ID, HashesExtra, &hm); err != nil {
				t.Fatal(err)
			}
			var logical []string
			for _, a := range hm.Assets {
				logical = append(logical, a.Logical)
			}
			if want := []string{"css/site.css", "js/app.js"}; !slices.Equal(logical, want) {
				t.Errorf("saved hashes: %q, want %q", logical, want)
			}
			if res.Hashes == nil || len(res.Hashes.Assets) != 2 {
				t.Errorf("Result.Hashes = %+v, want the two assets", res.Hashes)
			}
			if validated := len(tt.want) == 4; validated {
				var rep validate.Report
				if err := s.Extra(res.Record.ID, ReportExtra, &rep); err != nil {
					t.Fatal(err)
				}
				if rep.Pages != 4 || rep.Rejected() {
					t.Errorf("saved report: %d pages, rejected %v; want 4, false", rep.Pages, rep.Rejected())
				}
				if res.Report == nil || res.Report.Pages != 4 {
					t.Errorf("Result.Report = %+v", res.Report)
				}
			} else if res.Report != nil {
				t.Errorf("Result.Report = %+v without validation", res.Report)
			}
		})
	}
}

// TestCarryOver checks the hand-off to package carry: a release keeps the
// hashed assets of the live one it replaces, marked as carried, and the
// live one's saved hashes name them.
func TestCarryOver(t *testing.T) {
	s := newStore(t)
	v1 := deployTree(t, s, site, hashing(), validating()).Record.ID
	old, ok := carry.Hashed(s, v1)
	if !ok || len(old) != 2 {
		t.Fatalf("carry.Hashed(%s) = %q, %v", v1, old, ok)
	}
	v2 := deployTree(t, s, site.with(tree{"js/app.js": `console.log("app v2");`}), hashing(), validating()).Record.ID
	m, err := s.Manifest(v2)
	if err != nil {
		t.Fatal(err)
	}
	carried := map[string]bool{}
	for _, e := range m.Entries {
		if e.Carried {
			carried[e.Path] = true
		}
	}
	oldJS := ""
	for h, l := range LogicalNames(s, v1) {
		if l == "js/app.js" {
			oldJS = h
		}
	}
	if oldJS == "" || !carried[oldJS] {
		t.Errorf("%s's %s not carried into %s (carried: %v)", v1, oldJS, v2, carried)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(v2), oldJS)); err != nil {
		t.Error(err)
	}
	if got := LogicalNames(s, v2); len(got) != 2 || got[oldJS] != "" {
		t.Errorf("LogicalNames(%s) = %v: want its own two assets, not the carried one", v2, got)
	}
}

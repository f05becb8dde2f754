package validate

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/klauspost/compress/gzip"

	"github.com/example/release-agent/manifest"
)

// sized is one own file of a tree with its logical path.
type sized struct {
	path, logical string
	size          int64
	sha           string
}

// sizesOf lists the own files of a tree by logical path. A content-hashed
// name and its original (hashassets may keep both, hardlinked) are one
// logical file and count once.
func sizesOf(t *tree, m *manifest.Manifest, logical map[string]string) []sized {
	var out []sized
	seen := map[string]bool{}
	add := func(p string, size int64, sha string) {
		l := p
		if x, ok := logical[p]; ok {
			l = x
		}
		if seen[l] {
			return
		}
		seen[l] = true
		out = append(out, sized{p, l, size, sha})
	}
	if m != nil {
		for _, e := range m.Entries {
			if e.Carried || e.IsSymlink() {
				continue
			}
			add(e.Path, e.Size, e.SHA256)
		}
		return out
	}
	for i, p := range t.paths {
		add(p, t.sizes[i], "")
	}
	return out
}

// HashedToLogical inverts a logical → hashed map (hashassets'
// Manifest.Map) into the hashed → logical map Options.Logical wants.
func HashedToLogical(logicalToHashed map[string]string) map[string]string {
	out := make(map[string]string, len(logicalToHashed))
	for l, h := range logicalToHashed {
		out[h] = l
	}
	return out
}

func gzipSize(fsys fs.FS, p string) (int64, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var cw countWriter
	zw, _ := gzip.NewWriterLevel(&cw, gzip.DefaultCompression)
	if _, err := io.Copy(zw, f); err != nil {
		return 0, fmt.Errorf("validate: gzip size of %s: %w", p, err)
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func pct(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

// checkSizes applies the budgets, the total limit and the shrink guard, and
// measures the changes against live.
func checkSizes(ctx context.Context, o *Options, t, lt *tree) ([]Finding, *SizeReport, error) {
	cur := sizesOf(t, o.Manifest, o.Logical)
	sr := &SizeReport{}
	for _, s := range cur {
		sr.Files++
		sr.Bytes += s.size
		if isPage(s.path) {
			sr.Pages++
		}
	}
	var old []sized
	oldBy := map[string]sized{}
	if lt != nil {
		old = sizesOf(lt, o.LiveManifest, o.LiveLogical)
		for _, s := range old {
			sr.LiveFiles++
			sr.LiveBytes += s.size
			if isPage(s.path) {
				sr.LivePages++
			}
			oldBy[s.logical] = s
		}
		var movers []Mover
		curBy := map[string]bool{}
		for _, s := range cur {
			curBy[s.logical] = true
			o, ok := oldBy[s.logical]
			switch {
			case !ok:
				sr.Added++
				movers = append(movers, Mover{s.logical, 0, s.size, "added"})
			case o.size != s.size || (o.sha != "" && s.sha != "" && o.sha != s.sha):
				sr.Changed++
				movers = append(movers, Mover{s.logical, o.size, s.size, "changed"})
			}
		}
		for _, s := range old {
			if !curBy[s.logical] {
				sr.Removed++
				movers = append(movers, Mover{s.logical, s.size, 0, "removed"})
			}
		}
		slices.SortFunc(movers, func(a, b Mover) int {
			da, db := abs(a.After-a.Before), abs(b.After-b.Before)
			if da != db {
				if da > db {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Path, b.Path)
		})
		n := o.Movers
		if n <= 0 {
			n = 10
		}
		sr.Movers = movers[:min(n, len(movers))]
	}
	var out []Finding
	if o.policy(KindSize) != PolicyOff {
		for _, b := range o.Budgets {
			fs, u, err := checkBudget(ctx, o, b, t, lt, cur, old, oldBy)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, fs...)
			sr.Budgets = append(sr.Budgets, u)
		}
		if o.MaxTotalBytes > 0 && sr.Bytes > o.MaxTotalBytes {
			out = append(out, Finding{Ref: "total", Kind: KindSize,
				Reason: fmt.Sprintf("total size %s exceeds the limit %s", human(sr.Bytes), human(o.MaxTotalBytes)),
				New:    lt == nil || sr.LiveBytes <= o.MaxTotalBytes})
		}
	}
	if lt != nil && o.ShrinkLimit > 0 && o.policy(KindShrink) != PolicyOff {
		if sr.LivePages > 0 && float64(sr.LivePages-sr.Pages) > o.ShrinkLimit*float64(sr.LivePages) {
			out = append(out, Finding{Ref: "pages", Kind: KindShrink, New: true,
				Reason: fmt.Sprintf("page count dropped from %d to %d (more than %s): an empty or partial build?", sr.LivePages, sr.Pages, pct(o.ShrinkLimit))})
		}
		if sr.LiveBytes > 0 && float64(sr.LiveBytes-sr.Bytes) > o.ShrinkLimit*float64(sr.LiveBytes) {
			out = append(out, Finding{Ref: "bytes", Kind: KindShrink, New: true,
				Reason: fmt.Sprintf("total size dropped from %s to %s (more than %s): an empty or partial build?", human(sr.LiveBytes), human(sr.Bytes), pct(o.ShrinkLimit))})
		}
	}
	return out, sr, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

type group struct {
	files       []sized
	bytes, gzip int64
}

func measure(ctx context.Context, fsys fs.FS, glob string, files []sized, wantGzip bool) (map[string]*group, *group, error) {
	per := map[string]*group{}
	all := &group{}
	for _, s := range files {
		if ok, _ := doublestar.Match(glob, s.logical); !ok {
			continue
		}
		g := &group{files: []sized{s}, bytes: s.size}
		if wantGzip {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			n, err := gzipSize(fsys, s.path)
			if err != nil {
				return nil, nil, err
			}
			g.gzip = n
		}
		per[s.logical] = g
		all.files = append(all.files, s)
		all.bytes += g.bytes
		all.gzip += g.gzip
	}
	return per, all, nil
}

func checkBudget(ctx context.Context, o *Options, b Budget, t, lt *tree, cur, old []sized, oldBy map[string]sized) ([]Finding, BudgetUsage, error) {
	u := BudgetUsage{Glob: b.Glob, MaxBytes: b.MaxBytes, MaxGzip: b.MaxGzip, MaxGrowth: b.MaxGrowth}
	per, all, err := measure(ctx, t.fsys, b.Glob, cur, b.MaxGzip > 0)
	if err != nil {
		return nil, u, err
	}
	u.Files, u.Bytes, u.Gzip = len(all.files), all.bytes, all.gzip
	var lper map[string]*group
	lall := &group{}
	if lt != nil {
		if lper, lall, err = measure(ctx, lt.fsys, b.Glob, old, b.MaxGzip > 0); err != nil {
			return nil, u, err
		}
		u.LiveBytes = lall.bytes
	}
	var out []Finding
	test := func(name, file string, g, lg *group) {
		if lg == nil {
			lg = &group{} // no live release, or no such file in it
		}
		over := func(what string, n, limit int64, liveN int64, liveOK bool) {
			if limit > 0 && n > limit {
				out = append(out, Finding{File: file, Ref: b.Glob, Kind: KindSize, Target: name,
					Reason: fmt.Sprintf("%s %s exceeds the budget %s", what, human(n), human(limit)),
					New:    !(liveOK && liveN > limit)})
			}
		}
		over("size", g.bytes, b.MaxBytes, lg.bytes, len(lg.files) > 0)
		over("gzip size", g.gzip, b.MaxGzip, lg.gzip, len(lg.files) > 0)
		if len(lg.files) == 0 || lg.bytes == 0 {
			return
		}
		grow := g.bytes - lg.bytes
		if b.MaxGrowth > 0 && float64(grow) > b.MaxGrowth*float64(lg.bytes) {
			out = append(out, Finding{File: file, Ref: b.Glob, Kind: KindSize, Target: name, New: true,
				Reason: fmt.Sprintf("grew %s from %s to %s (limit %s)", pct(float64(grow)/float64(lg.bytes)), human(lg.bytes), human(g.bytes), pct(b.MaxGrowth))})
		}
		if b.MaxGrowthBytes > 0 && grow > b.MaxGrowthBytes {
			out = append(out, Finding{File: file, Ref: b.Glob, Kind: KindSize, Target: name, New: true,
				Reason: fmt.Sprintf("grew by %s from %s to %s (limit %s)", human(grow), human(lg.bytes), human(g.bytes), human(b.MaxGrowthBytes))})
		}
	}
	if b.PerFile {
		for _, s := range all.files {
			var lg *group
			if lper != nil {
				lg = lper[s.logical]
			}
			test(s.logical, s.path, per[s.logical], lg)
		}
	} else {
		var lg *group
		if lt != nil {
			lg = lall
		}
		test("", "", all, lg)
	}
	return out, u, nil
}

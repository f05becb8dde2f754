// Package validate is the offline gate a staged release must pass before it
// goes live: every local reference in its HTML, CSS and SVG (and the source
// maps JavaScript names) must resolve to a file the web server will serve,
// every page#fragment to an id in the target page, required files must
// exist, and the tree's size must stay within budgets and must not
// collapse against the live release.
//
// # What is checked
//
// References come from package htmlrefs, the same extractor hashassets
// rewrites through, and are resolved to a path of the site by htmlrefs'
// resolver, the one hashassets uses, so the two never disagree about what
// a reference is or what it points to ("../" stops at the site root as in
// browsers; see htmlrefs' Resolving). That path is then mapped to a file as
// the web server maps it (see Options): "dir/" to an index file,
// optionally "/a" to "a.html", case-sensitively, under an optional base
// path; references outside the base path, file: URLs and Windows paths
// ("C:\...") are findings. External links are counted, never fetched: a
// release must not depend on the network.
//
// # Regression gating
//
// With a live release, each finding is marked new or existing (the live
// release has the same kind of finding for the same reference in the same
// file). Under the default policy "new", only new findings block, so a
// site that already ships broken links can stop new damage without first
// fixing the past.
//
// # Cost
//
// Pages are parsed in parallel by a bounded pool of workers, each page
// once; the work is linear in the total size of the pages. Memory holds the
// file index, a sorted set of 64-bit hashes of the ids of each page and the
// fragment references to pages not yet parsed when they were found, never
// a page's text beyond the worker that reads it (a worker keeps its read
// buffer from page to page up to 1 MiB).
//
// Check is safe for concurrent use with different or identical arguments;
// it only reads the file systems.
package validate

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"time"
)

// Check validates the tree fsys. live, which may be nil, is the live
// release: findings it also has are marked existing, and sizes are
// compared with it. Check returns an error only when it cannot do its job
// (unreadable tree, bad options, cancelled ctx); problems of the tree are
// findings in the Report.
func Check(ctx context.Context, fsys fs.FS, live fs.FS, opts Options) (*Report, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	t, err := buildTree(fsys)
	if err != nil {
		return nil, fmt.Errorf("validate: index the tree: %w", err)
	}
	var lt *tree
	if live != nil {
		if lt, err = buildTree(live); err != nil {
			return nil, fmt.Errorf("validate: index the live tree: %w", err)
		}
	}
	rep := &Report{Schema: Schema, Live: live != nil, Counts: map[string]KindCount{}, Findings: []Finding{}}

	linkOn := opts.policy(KindLink) != PolicyOff || opts.policy(KindAsset) != PolicyOff ||
		opts.policy(KindFragment) != PolicyOff || opts.policy(KindSourceMap) != PolicyOff
	if linkOn {
		l := newLinker(&opts, t)
		lr, err := l.run(ctx, l.selectPages(opts.Pages))
		if err != nil {
			return nil, err
		}
		rep.Scripts, rep.SVGs = lr.scripts, lr.svgs
		rep.Pages, rep.Styles, rep.Refs, rep.External, rep.Other, rep.Ignored = lr.pages, lr.styles, lr.refs, lr.external, lr.other, lr.ignored
		for _, f := range lr.findings {
			if opts.policy(f.Kind) != PolicyOff {
				rep.Findings = append(rep.Findings, f)
			}
		}
		if lt != nil && len(rep.Findings) > 0 {
			if err := markExisting(ctx, &opts, lt, rep.Findings); err != nil {
				return nil, err
			}
		} else {
			for i := range rep.Findings {
				rep.Findings[i].New = true
			}
		}
	}
	if opts.policy(KindRequired) != PolicyOff {
		for _, p := range opts.Required {
			if t.isFile(p) {
				continue
			}
			rep.Findings = append(rep.Findings, Finding{Ref: p, Kind: KindRequired, Target: p,
				Reason: "required file is missing", New: lt == nil || lt.isFile(p)})
		}
	}
	sizeFindings, sr, err := checkSizes(ctx, &opts, t, lt)
	if err != nil {
		return nil, err
	}
	rep.Size = sr
	rep.Findings = append(rep.Findings, sizeFindings...)
	sortFindings(rep.Findings)
	for i := range rep.Findings {
		f := &rep.Findings[i]
		baseline := lt == nil && opts.BaselineFirst && refKind(f.Kind)
		p := opts.policy(f.Kind)
		f.Blocking = p == PolicyAll || p == PolicyNew && f.New && !baseline
	}
	rep.count(func(kind string) Policy { return opts.policy(kind) })
	log.Debug("validate: checked", "pages", rep.Pages, "refs", rep.Refs, "findings", len(rep.Findings),
		"blocking", rep.Blocking, "elapsed", time.Since(start))
	return rep, nil
}

// markExisting checks, in the live tree, the pages that have reference
// findings, and marks each finding whose (kind, file, ref) the live
// release also has as existing. Files compare by logical path, so a
// stylesheet renamed by content hashing is still the same file.
func markExisting(ctx context.Context, opts *Options, lt *tree, fs []Finding) error {
	logical := func(m map[string]string, p string) string {
		if l, ok := m[p]; ok {
			return l
		}
		return p
	}
	livePath := map[string]string{} // logical → path in live
	for h, l := range opts.LiveLogical {
		livePath[l] = h
	}
	var only []int32
	seen := map[string]bool{}
	for _, f := range fs {
		l := logical(opts.Logical, f.File)
		if seen[l] {
			continue
		}
		seen[l] = true
		p := l
		if h, ok := livePath[l]; ok {
			p = h
		}
		if i, ok := lt.files[p]; ok {
			only = append(only, i)
		} else if i, ok := lt.files[l]; ok {
			only = append(only, i)
		}
	}
	old := map[Key]bool{}
	if len(only) > 0 {
		lo := *opts
		lo.IgnoreFiles = nil
		l := newLinker(&lo, lt)
		lr, err := l.run(ctx, only)
		if err != nil {
			return fmt.Errorf("validate: live release: %w", err)
		}
		for _, f := range lr.findings {
			old[Key{f.Kind, logical(opts.LiveLogical, f.File), f.Ref}] = true
		}
	}
	for i := range fs {
		f := &fs[i]
		f.New = !old[Key{f.Kind, logical(opts.Logical, f.File), f.Ref}]
	}
	return nil
}

// refKind reports whether kind is about references (the kinds a first
// release takes as its baseline; see Options.BaselineFirst).
func refKind(kind string) bool {
	switch kind {
	case KindLink, KindAsset, KindFragment, KindSourceMap:
		return true
	}
	return false
}

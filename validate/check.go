package validate

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/example/release-agent/htmlrefs"
	"github.com/example/release-agent/internal/gopanic"
)

// sref is one reference found by the scanner, before resolution.
type sref struct {
	value   string // as the browser sees it (entities decoded, trimmed)
	raw     string // exactly as written in the page
	line    int
	nav     bool // navigation (a link) rather than a resource (an asset)
	ignored bool // the element carries an ignore attribute
	noSrc   bool // an <img> without src or srcset
	refresh bool // the URL of a meta refresh
	anchor  bool // a plain a/area href (empty means this page)
	smap    bool // a sourceMappingURL (CSS or JavaScript)
}

// sink receives what the scanner finds in one document.
type sink interface {
	ref(r sref)
	anchor(name string)
	base(href string)
}

func isPage(p string) bool {
	e := path.Ext(p)
	return strings.EqualFold(e, ".html") || strings.EqualFold(e, ".htm") || strings.EqualFold(e, ".xhtml")
}

func isSVG(p string) bool { return strings.EqualFold(path.Ext(p), ".svg") }

func isStyle(p string) bool { return strings.EqualFold(path.Ext(p), ".css") }

func isScript(p string) bool {
	e := path.Ext(p)
	return strings.EqualFold(e, ".js") || strings.EqualFold(e, ".mjs")
}

// pending is a reference to a fragment of another page that was not yet
// parsed when the reference was found, checked once every page has been
// parsed.
//
// It holds no string: the reference as written is recovered, for the few
// that fail, by scanning the source page again for the ord-th reference.
// That keeps memory at 32 bytes per reference whatever the pages hold.
type pending struct {
	src, target int32
	line, ord   int32
	hRaw, hDec  uint64
}

// selfRef is a reference to a fragment of the page it is in.
type selfRef struct {
	pending
	raw string
}

// linkResult is what checking the references of a set of pages produced.
type linkResult struct {
	findings []Finding
	pages    int
	styles   int
	scripts  int
	svgs     int
	refs     int
	external int
	other    int
	ignored  int
}

// counts are the counters of a linker, kept per worker (no shared cache
// line on the hot path) and summed at the end.
type counts struct{ refs, external, other, ignored, pages, styles, scripts, svgs int }

func (c *counts) add(d counts) {
	c.refs += d.refs
	c.external += d.external
	c.other += d.other
	c.ignored += d.ignored
	c.pages += d.pages
	c.styles += d.styles
	c.scripts += d.scripts
	c.svgs += d.svgs
}

// linker checks the references of the pages of one tree.
type linker struct {
	opts *Options
	t    *tree
	res  *resolver
	seed maphash.Seed

	ids      [][]uint64 // by file index: sorted hashes of the page's ids and names
	parsed   []bool     // by file index: ids known
	redirect []int32    // by file index: the page a meta refresh sends to, or -1
	idMu     sync.Mutex // guards ids, parsed and redirect while workers run

	counts // summed from the workers when they finish
	cmu    sync.Mutex
}

func newLinker(o *Options, t *tree) *linker {
	l := &linker{opts: o, t: t, seed: maphash.MakeSeed()}
	l.res = &resolver{t: t, indexNames: o.IndexNames, pretty: o.PrettyURLs, dirNoSlash: o.DirWithoutSlash,
		site: htmlrefs.NewSite(o.BasePath, o.SiteURLs...)}
	if len(l.res.indexNames) == 0 {
		l.res.indexNames = []string{"index.html"}
	}
	l.ids = make([][]uint64, len(t.paths))
	l.parsed = make([]bool, len(t.paths))
	l.redirect = make([]int32, len(t.paths))
	for i := range l.redirect {
		l.redirect[i] = -1
	}
	return l
}

func (l *linker) hash(s string) uint64 { return maphash.String(l.seed, s) }

// selectPages lists the pages and stylesheets to check, by file index.
func (l *linker) selectPages(only []string) []int32 {
	var out []int32
	for i, p := range l.t.paths {
		if !isPage(p) && !isSVG(p) && !isStyle(p) && !(isScript(p) && l.opts.policy(KindSourceMap) != PolicyOff) {
			continue
		}
		if matchAny(l.opts.IgnoreFiles, p) {
			continue
		}
		if len(only) > 0 && !matchAny(only, p) {
			continue
		}
		out = append(out, int32(i))
	}
	return out
}

// run checks the references of the given files in parallel, then the
// fragments that point into pages parsed after the reference was found
// (parsing, for their ids only, the targets that were not among the files).
func (l *linker) run(ctx context.Context, files []int32) (*linkResult, error) {
	workers := l.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type out struct {
		findings []Finding
		pend     []pending
	}
	outs := make([]out, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	var pc gopanic.Capture // a panic in a worker reaches the caller's goroutine
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Recover()
			pw := &pageWorker{l: l}
			for {
				i := next.Add(1) - 1
				if int(i) >= len(files) || ctx.Err() != nil {
					break
				}
				if err := pw.check(files[i]); err != nil {
					errs[w] = err
					return
				}
			}
			outs[w] = out{pw.findings, pw.pend}
			l.cmu.Lock()
			l.counts.add(pw.n)
			l.cmu.Unlock()
		}()
	}
	wg.Wait()
	pc.Repanic()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &linkResult{}
	for _, o := range outs {
		r.findings = append(r.findings, o.findings...)
	}
	// The pending references are read where the workers left them: one
	// slice of them all would be a copy (rust-doc leaves 184,000, 6 MB)
	// made while the workers' slices are still live.
	eachPending := func(f func(p pending)) {
		for _, o := range outs {
			for _, p := range o.pend {
				f(p)
			}
		}
	}
	// Later rounds: fragment targets (and the pages they redirect to)
	// that were not among the files are parsed for their ids only.
	for round := 0; ; round++ {
		var more []int32
		seen := map[int32]bool{}
		eachPending(func(p pending) {
			if _, need := l.fragOK(p); need >= 0 && !seen[need] {
				seen[need] = true
				more = append(more, need)
			}
		})
		if len(more) == 0 || round == maxRedirects {
			break
		}
		if err := l.parseIDs(ctx, more, workers); err != nil {
			return nil, err
		}
	}
	var failed []pending
	eachPending(func(p pending) {
		if ok, _ := l.fragOK(p); !ok {
			failed = append(failed, p)
		}
	})
	if len(failed) > 0 {
		raws, err := l.recoverRaw(failed)
		if err != nil {
			return nil, err
		}
		for i, p := range failed {
			r.findings = append(r.findings, l.fragFinding(p.src, int(p.line), raws[i], p.target))
		}
	}
	r.refs, r.external, r.other, r.ignored = l.counts.refs, l.counts.external, l.counts.other, l.counts.ignored
	r.pages, r.styles, r.scripts, r.svgs = l.counts.pages, l.counts.styles, l.counts.scripts, l.counts.svgs
	return r, nil
}

func (l *linker) fragFinding(src int32, line int, ref string, target int32) Finding {
	reason := "fragment does not exist in " + l.t.paths[target]
	if target == src {
		reason = "fragment does not exist in this page"
	}
	return Finding{File: l.t.paths[src], Line: line, Ref: ref, Kind: KindFragment, Target: l.t.paths[target], Reason: reason}
}

// recoverRaw returns, for each failed pending reference, the reference as
// written, by scanning its page again (pages with failures only).
func (l *linker) recoverRaw(failed []pending) ([]string, error) {
	out := make([]string, len(failed))
	bySrc := map[int32][]int{}
	for i, p := range failed {
		bySrc[p.src] = append(bySrc[p.src], i)
	}
	w := &pageWorker{l: l}
	for src, is := range bySrc {
		p := l.t.paths[src]
		b, err := w.read(p)
		if err != nil {
			return nil, fmt.Errorf("validate: read %s: %w", p, err)
		}
		c := &ordSink{want: map[int32]string{}}
		for _, i := range is {
			c.want[failed[i].ord] = ""
		}
		if isScript(p) {
			scanScript(b, c)
		} else if isStyle(p) {
			scanCSS(b, c)
		} else {
			scanHTML(b, l.opts, c)
		}
		for _, i := range is {
			out[i] = c.want[failed[i].ord]
		}
	}
	return out, nil
}

// ordSink records the references with the wanted ordinals.
type ordSink struct {
	ord  int32
	want map[int32]string
}

func (c *ordSink) ref(r sref) {
	if _, ok := c.want[c.ord]; ok {
		c.want[c.ord] = r.raw
	}
	c.ord++
}
func (c *ordSink) anchor(string) {}
func (c *ordSink) base(string)   {}

// maxRedirects bounds the meta refresh hops followed for a fragment.
const maxRedirects = 5

// fragOK reports whether the fragment of p exists in its target page or,
// when the target is a redirect page without it (rustdoc writes those for
// re-exports, and carries the fragment along with a script), in the page
// it redirects to. need is a page whose ids are needed first, or -1.
func (l *linker) fragOK(p pending) (ok bool, need int32) {
	t := p.target
	for range maxRedirects + 1 {
		if !l.parsed[t] {
			return false, t
		}
		if l.hasID(t, p.hRaw, p.hDec) {
			return true, -1
		}
		next := l.redirect[t]
		if next < 0 || next == t {
			return false, -1
		}
		t = next
	}
	return false, -1
}

func (l *linker) hasID(target int32, hRaw, hDec uint64) bool {
	ids := l.ids[target]
	_, ok := slices.BinarySearch(ids, hRaw)
	if !ok && hDec != hRaw {
		_, ok = slices.BinarySearch(ids, hDec)
	}
	return ok
}

// setParsed records the ids and the redirect of a parsed file.
func (l *linker) setParsed(idx int32, ids []uint64, redirect int32) {
	l.idMu.Lock()
	l.ids[idx], l.parsed[idx], l.redirect[idx] = ids, true, redirect
	l.idMu.Unlock()
}

func (l *linker) parseIDs(ctx context.Context, files []int32, workers int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	var pc gopanic.Capture // a panic in a worker reaches the caller's goroutine
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Recover()
			pw := &pageWorker{l: l, idsOnly: true}
			for {
				i := next.Add(1) - 1
				if int(i) >= len(files) || ctx.Err() != nil {
					return
				}
				if err := pw.check(files[i]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	pc.Repanic()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// pageWorker checks one page at a time; it is owned by one goroutine.
type pageWorker struct {
	l       *linker
	idsOnly bool
	buf     []byte

	// per page
	idx      int32
	redirect int32
	cache    map[string]resolved // resolutions of references under cacheDir
	cacheDir string
	n        counts
	ord      int32 // ordinal of the next reference in the page
	page     string
	b        htmlrefs.Base
	ids      []uint64
	self     []selfRef // fragments of this page, checked at its end
	findings []Finding
	pend     []pending
}

// maxBuf is the largest read buffer a worker keeps from page to page.
const maxBuf = 1 << 20

// read reads file p into the worker's buffer, reused from page to page
// unless it is larger than maxBuf: a buffer sized for a big page (rust-doc
// has 10 MB source listings) serves that page only, so the few big pages
// do not keep every worker's buffer at their size until the end.
// The size known from the walk sizes the buffer and ends the read, so a
// file costs open, read and close (release trees do not change).
func (w *pageWorker) read(p string) ([]byte, error) {
	f, err := w.l.t.fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := int64(0)
	if i, ok := w.l.t.files[p]; ok {
		size = w.l.t.sizes[i]
	}
	if c := int64(cap(w.buf)); c < size+1 || c > maxBuf {
		n := size + 512
		if n <= maxBuf {
			n = min(n+size/8, maxBuf) // room for the next, somewhat bigger pages
		}
		w.buf = make([]byte, 0, n)
	}
	w.buf = w.buf[:0]
	for {
		if len(w.buf) == cap(w.buf) {
			w.buf = append(w.buf, 0)[:len(w.buf)]
		}
		n, err := f.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		if err == io.EOF || (err == nil && size > 0 && int64(len(w.buf)) == size) {
			return w.buf, nil // the walk's size read: served trees are immutable
		}
		if err != nil {
			return nil, err
		}
	}
}

func (w *pageWorker) check(idx int32) error {
	l := w.l
	p := l.t.paths[idx]
	src, err := w.read(p)
	if err != nil {
		return fmt.Errorf("validate: read %s: %w", p, err)
	}
	w.idx, w.page, w.ids, w.self, w.ord = idx, p, w.ids[:0], w.self[:0], 0
	w.b = l.res.base(p, "")
	if dir := path.Dir(p); dir != w.cacheDir || len(w.cache) > maxCache {
		w.resetCache()
		w.cacheDir = dir
	}
	w.redirect = -1
	if isScript(p) {
		if !w.idsOnly {
			w.n.scripts++
			scanScript(src, w)
		}
		l.setParsed(idx, nil, -1)
		return nil
	}
	if isStyle(p) {
		if !w.idsOnly {
			w.n.styles++
			scanCSS(src, w)
		}
		l.setParsed(idx, nil, -1)
		return nil
	}
	if !w.idsOnly {
		if isSVG(p) {
			w.n.svgs++
		} else {
			w.n.pages++
		}
	}
	scanHTML(src, l.opts, w) // SVG too: its ids are fragment targets (sprites), its hrefs references
	slices.Sort(w.ids)
	l.setParsed(idx, slices.Compact(slices.Clone(w.ids)), w.redirect)
	for _, s := range w.self {
		if !l.hasID(idx, s.hRaw, s.hDec) {
			w.findings = append(w.findings, l.fragFinding(idx, int(s.line), s.raw, idx))
		}
	}
	return nil
}

// maxCache bounds the resolution cache of a worker.
const maxCache = 8192

// resetCache empties the resolution cache; a big map is dropped rather
// than cleared (clearing costs its capacity).
func (w *pageWorker) resetCache() {
	if len(w.cache) > 512 {
		w.cache = nil
		return
	}
	clear(w.cache)
}

func (w *pageWorker) anchor(name string) {
	if name != "" {
		w.ids = append(w.ids, w.l.hash(name))
	}
}

func (w *pageWorker) base(href string) {
	w.b = w.l.res.base(w.page, href)
	w.resetCache()
	w.cacheDir = "\x00<base>" // no other page shares this base
}

func (w *pageWorker) ref(r sref) {
	l := w.l
	w.ord++
	if r.refresh && w.redirect < 0 {
		if res := l.res.resolve(&w.b, r.value); res.out == resOK && isPage(res.target) {
			w.redirect = l.t.files[res.target]
		}
	}
	if w.idsOnly {
		return
	}
	if r.ignored || (len(l.opts.IgnoreURLs) > 0 && matchAny(l.opts.IgnoreURLs, r.value)) {
		w.n.ignored++
		return
	}
	if r.noSrc {
		w.n.refs++
		w.findings = append(w.findings, Finding{File: w.page, Line: r.line, Ref: r.raw, Kind: KindAsset,
			Reason: "img without src"})
		return
	}
	if r.anchor && l.opts.EmptyHrefOK && htmlrefs.IsEmpty(r.value) {
		w.n.refs++
		return // href="": a link to this page (Sphinx writes it for the current page)
	}
	// Resolutions are cached while pages of one directory follow each
	// other (the workers take pages in walk order); references to the page
	// itself ("#x", "?q", also after bytes the URL parser strips) depend
	// on the page and are not cached.
	var res resolved
	if v := r.value; v != "" && v[0] > ' ' && v[0] != '#' && v[0] != '?' {
		var ok bool
		if res, ok = w.cache[v]; !ok {
			res = l.res.resolve(&w.b, v)
			if w.cache == nil {
				w.cache = map[string]resolved{}
			}
			w.cache[v] = res
		}
	} else {
		res = l.res.resolve(&w.b, v)
	}
	kind := KindAsset
	if r.nav {
		kind = KindLink
	} else if r.smap {
		kind = KindSourceMap
	}
	switch res.out {
	case resExternal:
		w.n.external++
		return
	case resOther:
		w.n.other++
		return
	}
	w.n.refs++
	if res.target != "" && len(l.opts.IgnoreURLs) > 0 && matchAny(l.opts.IgnoreURLs, res.target) {
		w.n.ignored++
		return
	}
	switch res.out {
	case resEmpty, resMissing, resOutside:
		w.findings = append(w.findings, Finding{File: w.page, Line: r.line, Ref: r.raw,
			Kind: kind, Target: res.target, Reason: res.reason})
		return
	}
	if !res.hasFrag || !isPage(res.target) && !isSVG(res.target) {
		return
	}
	frag := res.frag
	if frag == "" || strings.EqualFold(frag, "top") {
		return
	}
	if isSVG(res.target) && strings.ContainsAny(frag, "(=") {
		return // an SVG view specification (#svgView(...)), not an id
	}
	pd := pending{src: w.idx, line: int32(r.line), ord: w.ord - 1, hRaw: l.hash(frag)}
	pd.hDec = pd.hRaw
	if strings.Contains(frag, "%") {
		if d, err := unescapeFragment(frag); err == nil {
			pd.hDec = l.hash(d)
		}
	} else if n, ok := lineRange(frag); ok {
		pd.hDec = l.hash(n)
	}
	ti := l.t.files[res.target]
	pd.target = ti
	if ti == w.idx {
		w.self = append(w.self, selfRef{pd, r.raw})
		return
	}
	// A target parsed already (half of them in rust-doc, whose pages the
	// workers take in walk order) is checked now; only the others wait,
	// as pending, for the end of the run.
	l.idMu.Lock()
	ok, need := l.fragOK(pd)
	l.idMu.Unlock()
	if ok {
		return
	}
	if need < 0 {
		w.findings = append(w.findings, l.fragFinding(w.idx, r.line, r.raw, ti))
		return
	}
	w.pend = append(w.pend, pd)
}

// lineRange recognises the "N-M" fragments of source viewers (rustdoc's
// src pages): line N has id "N", and a script highlights the range.
func lineRange(frag string) (string, bool) {
	i := strings.IndexByte(frag, '-')
	if i <= 0 || i == len(frag)-1 {
		return "", false
	}
	for j := 0; j < len(frag); j++ {
		if j != i && (frag[j] < '0' || frag[j] > '9') {
			return "", false
		}
	}
	return frag[:i], true
}

// unescapeFragment percent-decodes a fragment as browsers do when they look
// for the element: "%7C%3E" is "|>".
func unescapeFragment(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			d, ok := htmlrefs.PercentByteAt(s, i)
			if !ok {
				return "", fmt.Errorf("bad escape in fragment %q", s)
			}
			b.WriteByte(d)
			i += 2
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

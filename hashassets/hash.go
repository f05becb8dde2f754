package hashassets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/release-agent/htmlrefs"
	"github.com/example/release-agent/internal/gopanic"
)

// Writer applies Hash's changes to the tree that the fs.FS shows. Hash
// calls it from one goroutine at a time for a given name, but may call it
// concurrently for different names.
type Writer interface {
	// WriteFile creates or replaces name with data and permission perm,
	// atomically: the content goes to a new file that is then renamed over
	// name. It must never open an existing file for writing (it may be a
	// hard link shared with another release).
	WriteFile(name string, data []byte, perm fs.FileMode) error
	// Link makes newname a hard link to oldname, atomically replacing
	// newname if it exists.
	Link(oldname, newname string) error
}

// ErrCollision is returned (wrapped, naming both paths) when an asset's
// hashed name is already taken by a file with other content.
var ErrCollision = errors.New("hashed name already taken by different content")

type kind uint8

const (
	leaf kind = iota
	css
	js
	page
)

type edit struct {
	start, end int
	raw        string
	target     int // index into h.assets
}

type asset struct {
	path    string
	mode    fs.FileMode
	kind    kind
	sum     [32]byte // of the original bytes
	size    int64
	content []byte // css and js only
	edits   []edit
	deps    []int

	// results
	hashed   string
	final    []byte // nil: same as the original
	finalSum [32]byte
	finalLen int64
}

type pageFile struct {
	path string
	mode fs.FileMode
}

// inPlacer is a Writer that can open a page to be read and rewritten in
// place (RootWriter); the file's Rewrite reports false, and changes
// nothing, when it cannot, e.g. because the file has other links.
type inPlacer interface {
	OpenInPlace(name string) (*InPlaceFile, error)
}

type hasher struct {
	ctx     context.Context
	fsys    fs.FS
	w       Writer
	opts    Options
	log     *slog.Logger
	files   map[string]bool // every regular file
	assets  []*asset
	byPath  map[string]int
	names   map[string]bool     // file names (last elements) of the assets
	sibling map[string][]string // "dir/name.ext" -> existing "dir/name.<10hex>.ext"
	pages   []*pageFile

	mu      sync.Mutex
	changed []File
	bufs    bufPool // page buffers, reused (fresh memory costs page faults)
}

// Hash hashes the assets of the tree fsys, writing through w, and returns
// the manifest. fsys must reflect w's writes only in so far as Hash does
// not read a path after writing it (it does not). On error the tree may be
// partly rewritten: the caller discards the staging directory.
func Hash(ctx context.Context, fsys fs.FS, w Writer, opts Options) (*Manifest, error) {
	if opts.Include == nil {
		opts.Include = DefaultInclude
	}
	if opts.Exclude == nil {
		opts.Exclude = DefaultExclude
	}
	if err := opts.ValidateGlobs(); err != nil {
		return nil, err
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	h := &hasher{ctx: ctx, fsys: fsys, w: w, opts: opts, log: opts.Logger,
		files: map[string]bool{}, byPath: map[string]int{}, names: map[string]bool{}, sibling: map[string][]string{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	var phases []any
	for _, ph := range []struct {
		name string
		fn   func() error
	}{{"walk", h.walk}, {"read_assets", h.readAssets}, {"order", h.order}, {"write_assets", h.writeAssets}, {"pages", h.pagesPass}} {
		t0 := time.Now()
		if err := ph.fn(); err != nil {
			return nil, err
		}
		phases = append(phases, slog.Duration(ph.name, time.Since(t0)))
	}
	m := &Manifest{}
	for _, a := range h.assets {
		m.Assets = append(m.Assets, Asset{
			Logical:   a.path,
			Hashed:    a.hashed,
			SHA256:    hex.EncodeToString(a.finalSum[:]),
			Size:      a.finalLen,
			Integrity: "sha256-" + base64.StdEncoding.EncodeToString(a.finalSum[:]),
		})
	}
	slices.SortFunc(m.Assets, func(a, b Asset) int { return strings.Compare(a.Logical, b.Logical) })
	slices.SortFunc(h.changed, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	m.changed = h.changed
	h.log.Debug("hashassets: done", append([]any{"assets", len(m.Assets), "pages", len(h.pages), "changed", len(m.changed)}, phases...)...)
	return m, nil
}

// walk lists the regular files and picks the assets and pages.
func (h *hasher) walk() error {
	var paths []string
	if h.opts.Files != nil {
		paths = slices.Clone(h.opts.Files)
		for _, p := range paths {
			if !fs.ValidPath(p) || p == "." {
				return fmt.Errorf("hashassets: Options.Files: invalid path %q", p)
			}
			h.files[p] = true
		}
	} else {
		err := fs.WalkDir(h.fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("hashassets: walking %s: %w", p, err)
			}
			if d.Type().IsRegular() {
				// Modes are read when the file is (one stat fewer per file).
				h.files[p] = true
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		switch {
		case isPage(p):
			h.pages = append(h.pages, &pageFile{path: p})
		case BuildHashed(p):
			if orig, ok := unhashedName(p); ok {
				h.sibling[orig] = append(h.sibling[orig], p)
			}
		case matchAny(h.opts.Include, p) && !matchAny(h.opts.Exclude, p):
			k := leaf
			switch strings.ToLower(path.Ext(p)) {
			case ".css":
				k = css
			case ".js", ".mjs":
				k = js
			}
			h.byPath[p] = len(h.assets)
			h.names[path.Base(p)] = true
			h.assets = append(h.assets, &asset{path: p, kind: k})
		}
	}
	return nil
}

// unhashedName maps "dir/name.<10 hex>.ext" to "dir/name.ext".
func unhashedName(p string) (string, bool) {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	i := strings.LastIndexByte(stem, '.')
	if i <= 0 || len(stem)-i-1 != 10 {
		return "", false
	}
	for _, c := range stem[i+1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return dir + stem[:i] + ext, true
}

// parallel runs fn(i) for i in [0, n) on opts.Workers goroutines and
// returns the first error.
func (h *hasher) parallel(n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	workers := min(h.opts.Workers, n)
	var pc gopanic.Capture // a panic in a worker reaches the caller's goroutine
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Recover()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				err := h.ctx.Err()
				if err == nil {
					err = fn(i)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	pc.Repanic()
	return first
}

// readAssets hashes every asset, and finds the references of style
// sheets and scripts.
func (h *hasher) readAssets() error {
	err := h.parallel(len(h.assets), func(i int) error {
		a := h.assets[i]
		if a.kind != css {
			// Images, fonts and most scripts are only hashed: stream them
			// through a small buffer instead of holding them (fresh memory
			// costs a page fault per 4 KiB, a large share of the time on
			// some machines). A script that mentions a source map is read
			// whole below.
			key := ""
			if a.kind == js {
				key = sourceMapKey
			}
			sum, size, mode, found, err := h.stream(a.path, key)
			if err != nil {
				return fmt.Errorf("hashassets: reading asset %s: %w", a.path, err)
			}
			if !found {
				a.sum, a.size, a.mode = sum, size, mode
				return nil
			}
		}
		bp, mode, err := h.read(a.path)
		if err != nil {
			return fmt.Errorf("hashassets: reading asset %s: %w", a.path, err)
		}
		defer h.bufs.Put(bp)
		b := *bp
		a.mode = mode
		a.sum = sha256.Sum256(b)
		a.size = int64(len(b))
		switch a.kind {
		case css:
			htmlrefs.ScanCSS(b, 0, 1, func(r htmlrefs.Ref) { h.addEdit(&a.edits, a.path, "", r) })
		case js:
			htmlrefs.ScanSourceMap(b, func(r htmlrefs.Ref) { h.addEdit(&a.edits, a.path, "", r) })
		}
		if len(a.edits) > 0 {
			a.content = bytes.Clone(b)
			for _, e := range a.edits {
				a.deps = append(a.deps, e.target)
			}
			slices.Sort(a.deps)
			a.deps = slices.Compact(a.deps)
		}
		return nil
	})
	return err
}

// bufPool is a free list of buffers. Unlike a sync.Pool it keeps them
// across garbage collections: reading pages into memory the process has
// touched before costs no page faults, and on some virtual machines a
// fault costs more than reading the 4 KiB it maps. It keeps at most 8.
type bufPool struct {
	mu   sync.Mutex
	free []*[]byte
}

// Get returns a free buffer, or nil.
func (p *bufPool) Get() *[]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	return nil
}

// Put returns b to the free list.
func (p *bufPool) Put(b *[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < 8 {
		p.free = append(p.free, b)
	}
}

// buf returns a buffer from the pool; put it back with h.bufs.Put.
func (h *hasher) buf() *[]byte {
	if bp := h.bufs.Get(); bp != nil {
		return bp
	}
	return new([]byte)
}

// read reads file name into a pooled buffer (fresh memory costs page
// faults, reused memory does not), and returns its permission bits.
func (h *hasher) read(name string) (*[]byte, fs.FileMode, error) {
	bp := h.buf()
	var mode fs.FileMode
	f, err := h.fsys.Open(name)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = f.Stat(); err == nil {
			mode = fi.Mode().Perm()
			n := int(fi.Size())
			if cap(*bp) < n+1 {
				*bp = make([]byte, 0, n+n/8+512)
			}
			var b []byte
			b, err = readAll((*bp)[:0], f)
			*bp = b
		}
		f.Close()
	}
	if err != nil {
		h.bufs.Put(bp)
		return nil, 0, err
	}
	return bp, mode, nil
}

// sourceMapKey is what htmlrefs.ScanSourceMap looks for.
const sourceMapKey = "sourceMappingURL="

// stream returns the sha256, size and permission bits of file name, read
// through a pooled buffer, and whether its bytes contain key (if not "").
func (h *hasher) stream(name, key string) (sum [32]byte, size int64, mode fs.FileMode, found bool, err error) {
	f, err := h.fsys.Open(name)
	if err != nil {
		return sum, 0, 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sum, 0, 0, false, err
	}
	bp := h.buf()
	defer h.bufs.Put(bp)
	const chunk = 64 << 10
	if cap(*bp) < chunk+len(key) {
		*bp = make([]byte, 0, chunk+len(key))
	}
	b := (*bp)[:cap(*bp)]
	d := sha256.New()
	keep := 0 // the tail of the last chunk, for a key across chunks
	for {
		n, rerr := f.Read(b[keep:])
		if n > 0 {
			d.Write(b[keep : keep+n])
			size += int64(n)
			if key != "" && !found {
				total := keep + n
				found = bytes.Contains(b[:total], []byte(key))
				keep = min(len(key)-1, total)
				copy(b, b[total-keep:total])
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return sum, 0, 0, false, rerr
		}
	}
	d.Sum(sum[:0])
	return sum, size, fi.Mode().Perm(), found, nil
}

// readAll appends r's bytes to b, like io.ReadAll but into b's capacity.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func scanPage(b []byte, data []string, filter func([]byte) bool) (refs []htmlrefs.Ref, base string, err error) {
	err = htmlrefs.ScanHTML(b, htmlrefs.Options{DataAttrs: data, Filter: filter}, htmlrefs.Funcs{
		OnRef:  func(r htmlrefs.Ref) { refs = append(refs, r) },
		OnBase: func(href string, _ int) { base = href },
	})
	return refs, base, err
}

// delim marks the bytes that cannot be part of a file name as the filter
// sees it: URL, srcset, CSS and HTML punctuation.
var delim = func() (t [256]bool) {
	for _, c := range []byte("/ \t\n\r\f,()\"'?#=;:<>") {
		t[c] = true
	}
	return t
}()

// filter returns the htmlrefs filter that skips attribute values and style
// blocks that cannot name an asset. It splits the raw bytes into words at
// delimiters (URL, srcset, CSS and HTML punctuation) and passes a value if
// one of its words is an asset's file name. Escapes are read so that the
// split is never coarser than that of the decoded value, which keeps the
// filter exact: a character reference or %XX that decodes to a byte no
// asset name has is a delimiter; one that decodes to a byte some name has
// passes the value, as does any other reference and any CSS escape ('\'),
// and a tab, CR or LF between two word bytes (the URL parser drops them).
// It is nil (no filtering) if an asset's name has a delimiter, '&', '%' or
// '\'.
func (h *hasher) filter() func([]byte) bool {
	var inName [256]bool
	// lens[c] has bit len&63 set if a name of that length ends in c: a
	// cheap test before the map lookup.
	var lens [256]uint64
	for n := range h.names {
		if n == "" {
			continue
		}
		for i := 0; i < len(n); i++ {
			if c := n[i]; delim[c] || c == '&' || c == '%' || c == '\\' {
				return nil
			}
			inName[n[i]] = true
		}
		lens[n[len(n)-1]] |= 1 << (len(n) & 63)
	}
	isName := func(w []byte) bool {
		return len(w) > 0 && lens[w[len(w)-1]]&(1<<(len(w)&63)) != 0 && h.names[string(w)]
	}
	return func(raw []byte) bool {
		start := 0
		for i := 0; i < len(raw); {
			c := raw[i]
			n := 1
			switch {
			case c == '\\':
				return true
			case c == '&':
				d, m, ok := htmlrefs.ASCIIRefAt(raw, i)
				if !ok || inName[d] {
					return true
				}
				n = m
			case c == '%':
				if d, ok := htmlrefs.PercentByteAt(raw, i); ok {
					if inName[d] {
						return true
					}
					n = 3
				} // else a lone '%', in no name: a delimiter
			case c == '\t' || c == '\n' || c == '\r':
				// The URL parser drops these inside a URL (htmlrefs.Clean):
				// between two word bytes they may join a name.
				j := i + 1
				for j < len(raw) && (raw[j] == '\t' || raw[j] == '\n' || raw[j] == '\r') {
					j++
				}
				if i > start && j < len(raw) && !delim[raw[j]] {
					return true
				}
			case !delim[c]:
				i++
				continue
			}
			if isName(raw[start:i]) {
				return true
			}
			i += n
			start = i
		}
		return isName(raw[start:])
	}
}

// addEdit records r if it resolves to an asset.
func (h *hasher) addEdit(edits *[]edit, from, base string, r htmlrefs.Ref) {
	if r.Inexact || r.Value == "" {
		return
	}
	// Most references (links to pages) cannot name an asset: their file
	// name is not an asset's. This check is cheap; Resolve is not.
	if name, literal := htmlrefs.FileName(r.Value); literal && !h.names[name] {
		return
	}
	t := htmlrefs.Resolve(from, base, r.Value)
	if t.Class != htmlrefs.Local || t.Dir {
		return
	}
	i, ok := h.byPath[t.Path]
	if !ok {
		return
	}
	*edits = append(*edits, edit{start: r.Start, end: r.End, raw: r.Raw, target: i})
}

// order computes the hashed names in topological order of the reference
// graph (Tarjan's algorithm emits strongly connected components leaves
// first).
func (h *hasher) order() error {
	n := len(h.assets)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	var err error
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range h.assets[v].deps {
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if err == nil {
				err = h.unit(comp)
			}
		}
	}
	for v := range n {
		if index[v] < 0 {
			strong(v)
		}
		if err != nil {
			return err
		}
		if err := h.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// unit names one strongly connected component whose dependencies outside
// it are all named.
func (h *hasher) unit(comp []int) error {
	slices.SortFunc(comp, func(a, b int) int { return strings.Compare(h.assets[a].path, h.assets[b].path) })
	in := func(t int) bool { return slices.Contains(comp, t) }
	cycle := len(comp) > 1 || slices.Contains(h.assets[comp[0]].deps, comp[0])
	if !cycle {
		a := h.assets[comp[0]]
		a.final = h.apply(a.content, a.edits, nil)
		h.name(a, "")
		return nil
	}
	hh := sha256.New()
	for _, v := range comp {
		a := h.assets[v]
		partial := h.apply(a.content, a.edits, in)
		s := sha256.Sum256(partial)
		fmt.Fprintf(hh, "%s\x00%x\x00", a.path, s)
	}
	shared := hex.EncodeToString(hh.Sum(nil))
	for _, v := range comp {
		h.assets[v].hashed = HashedName(h.assets[v].path, shared)
	}
	for _, v := range comp {
		a := h.assets[v]
		a.final = h.apply(a.content, a.edits, nil)
		h.name(a, shared)
	}
	h.log.Debug("hashassets: reference cycle hashed as one unit", "members", len(comp), "first", h.assets[comp[0]].path)
	return nil
}

// name sets a's final digest and, unless shared is set, its hashed name.
// An unchanged asset whose hashed sibling already exists with the same
// bytes keeps that sibling's name (hashing a hashed tree is a no-op, even
// for the members of a former cycle).
func (h *hasher) name(a *asset, shared string) {
	if bytes.Equal(a.final, a.content) {
		a.final = nil
	}
	if a.final == nil {
		a.finalSum, a.finalLen = a.sum, a.size
	} else {
		a.finalSum, a.finalLen = sha256.Sum256(a.final), int64(len(a.final))
	}
	if shared != "" {
		return
	}
	a.hashed = HashedName(a.path, hex.EncodeToString(a.finalSum[:]))
	if a.final == nil {
		if _, ok := h.files[a.hashed]; ok {
			return
		}
		for _, s := range h.sibling[a.path] {
			if sum, err := h.sumOf(s); err == nil && sum == a.sum {
				a.hashed = s
				return
			}
		}
	}
}

func (h *hasher) sumOf(p string) ([32]byte, error) {
	b, err := fs.ReadFile(h.fsys, p)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// apply returns src with the edits applied, except those whose target
// skip reports true for; it returns src itself if nothing changes.
func (h *hasher) apply(src []byte, edits []edit, skip func(int) bool) []byte {
	out, changed := h.applyTo(nil, src, edits, skip)
	if !changed {
		return src
	}
	return out
}

// applyTo appends src with the edits applied to dst[:0] and reports
// whether any edit changed the bytes; if none did, it returns dst[:0].
func (h *hasher) applyTo(dst, src []byte, edits []edit, skip func(int) bool) ([]byte, bool) {
	segs, n, changed := h.segments(nil, src, edits, skip)
	out := dst[:0]
	if !changed {
		return out, false
	}
	if cap(out) < n {
		out = make([]byte, 0, n)
	}
	for _, s := range segs {
		out = append(out, s...)
	}
	return out, true
}

// segments returns src with the edits applied as pieces to concatenate
// (appended to segs[:0]: slices of src and the new URLs), their total
// length, and whether any edit changed the bytes. Edits that overlap an
// earlier one are ignored.
func (h *hasher) segments(segs [][]byte, src []byte, edits []edit, skip func(int) bool) ([][]byte, int, bool) {
	segs = segs[:0]
	changed := false
	last, n := 0, 0
	for _, e := range edits {
		if skip != nil && skip(e.target) {
			continue
		}
		t := h.assets[e.target]
		nr, ok := rewriteRaw(e.raw, t.path, t.hashed)
		if !ok || nr == e.raw || e.start < last {
			continue
		}
		changed = true
		segs = append(segs, src[last:e.start], []byte(nr))
		n += e.start - last + len(nr)
		last = e.end
	}
	if !changed {
		return segs, 0, false
	}
	return append(segs, src[last:]), n + len(src) - last, true
}

func (h *hasher) addChanged(f ...File) {
	h.mu.Lock()
	h.changed = append(h.changed, f...)
	h.mu.Unlock()
}

// writeAssets creates the hashed names and relinks rewritten originals.
func (h *hasher) writeAssets() error {
	return h.parallel(len(h.assets), func(i int) error {
		a := h.assets[i]
		if _, exists := h.files[a.hashed]; exists {
			sum, err := h.sumOf(a.hashed)
			if err != nil {
				return fmt.Errorf("hashassets: %s: %w", a.hashed, err)
			}
			if sum != a.finalSum {
				return fmt.Errorf("hashassets: %s for %s: %w", a.hashed, a.path, ErrCollision)
			}
		} else if a.final == nil {
			if err := h.w.Link(a.path, a.hashed); err != nil {
				return fmt.Errorf("hashassets: linking %s to %s: %w", a.hashed, a.path, err)
			}
			h.addChanged(File{a.hashed, a.finalSum, a.finalLen, a.mode})
			return nil
		} else {
			done, err := h.reuse(a.hashed, a.finalSum, a.finalLen, a.mode)
			if err == nil && !done {
				err = h.w.WriteFile(a.hashed, a.final, a.mode)
			}
			if err != nil {
				return fmt.Errorf("hashassets: writing %s: %w", a.hashed, err)
			}
			h.addChanged(File{a.hashed, a.finalSum, a.finalLen, a.mode})
		}
		if a.final != nil {
			// The original name now shows the rewritten bytes too.
			done, err := h.reuse(a.path, a.finalSum, a.finalLen, a.mode)
			if err == nil && !done {
				err = h.w.Link(a.hashed, a.path)
			}
			if err != nil {
				return fmt.Errorf("hashassets: relinking %s to %s: %w", a.path, a.hashed, err)
			}
			h.addChanged(File{a.path, a.finalSum, a.finalLen, a.mode})
		}
		a.content, a.final = nil, nil
		return nil
	})
}

// reuse asks Options.Reuse whether it provides the file name with the
// given digest, size and mode.
func (h *hasher) reuse(name string, sum [32]byte, size int64, mode fs.FileMode) (bool, error) {
	if h.opts.Reuse == nil {
		return false, nil
	}
	return h.opts.Reuse(name, sum, size, mode)
}

// pagesPass reads each page once, finds its references to assets (whose
// hashed names are known by now) and rewrites them: in place if
// Options.InPlace and the page has one link, else through a temporary
// file; or not at all if Options.Reuse provides the bytes.
func (h *hasher) pagesPass() error {
	ip, _ := h.w.(inPlacer)
	if !h.opts.InPlace {
		ip = nil
	}
	filter := h.filter()
	return h.parallel(len(h.pages), func(i int) (err error) {
		p := h.pages[i]
		var bp *[]byte
		var f *InPlaceFile
		if ip != nil {
			// One descriptor to read and rewrite the page.
			if f, err = ip.OpenInPlace(p.path); err != nil {
				return fmt.Errorf("hashassets: reading page %s: %w", p.path, err)
			}
			defer func() {
				if cerr := f.Close(); err == nil && cerr != nil {
					err = fmt.Errorf("hashassets: writing page %s: %w", p.path, cerr)
				}
			}()
			bp = h.buf()
			if *bp, err = f.ReadAll(*bp); err != nil {
				h.bufs.Put(bp)
				return fmt.Errorf("hashassets: reading page %s: %w", p.path, err)
			}
			p.mode = f.Perm()
		} else {
			var mode fs.FileMode
			if bp, mode, err = h.read(p.path); err != nil {
				return fmt.Errorf("hashassets: reading page %s: %w", p.path, err)
			}
			p.mode = mode
		}
		defer h.bufs.Put(bp)
		refs, base, err := scanPage(*bp, h.opts.DataAttrs, filter)
		if err != nil {
			return fmt.Errorf("hashassets: scanning page %s: %w", p.path, err)
		}
		var edits []edit
		for _, r := range refs {
			h.addEdit(&edits, p.path, base, r)
		}
		if len(edits) == 0 {
			return nil
		}
		// The new page is a list of pieces of the old one and new URLs:
		// hashed, then written with one pwritev, never copied whole.
		segs, n, changed := h.segments(nil, *bp, edits, nil)
		if !changed {
			return nil
		}
		d := sha256.New()
		for _, s := range segs {
			d.Write(s)
		}
		file := File{Path: p.path, Size: int64(n), Mode: p.mode}
		d.Sum(file.SHA256[:0])
		done, err := h.reuse(p.path, file.SHA256, file.Size, p.mode)
		if err != nil {
			return fmt.Errorf("hashassets: page %s: %w", p.path, err)
		}
		if !done && f != nil {
			if done, err = f.Rewrite(segs, p.mode); err != nil {
				return fmt.Errorf("hashassets: writing page %s: %w", p.path, err)
			}
		}
		if !done {
			op := h.buf()
			defer h.bufs.Put(op)
			out := (*op)[:0]
			for _, s := range segs {
				out = append(out, s...)
			}
			*op = out
			if err := h.w.WriteFile(p.path, out, p.mode); err != nil {
				return fmt.Errorf("hashassets: writing page %s: %w", p.path, err)
			}
		}
		h.addChanged(file)
		return nil
	})
}

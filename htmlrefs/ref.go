package htmlrefs

// Kind says what a reference is for, which decides how strictly a checker
// treats a reference that does not resolve.
type Kind uint8

const (
	// Navigation: a link the user follows (a href, iframe src, form
	// action, usemap, ...).
	Navigation Kind = iota + 1
	// Resource: something the page needs to render (img, script,
	// stylesheet, CSS url(), @import, ...).
	Resource
	// SourceMap: a sourceMappingURL comment in CSS or JavaScript.
	SourceMap
	// Refresh: the URL of <meta http-equiv=refresh>.
	Refresh
)

func (k Kind) String() string {
	switch k {
	case Navigation:
		return "navigation"
	case Resource:
		return "resource"
	case SourceMap:
		return "sourcemap"
	case Refresh:
		return "refresh"
	}
	return "unknown"
}

// MarshalText makes Kind readable in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Ref is one URL reference in a document.
type Ref struct {
	// Value is the URL as the browser sees it: entity-decoded (HTML),
	// escape-decoded (CSS), ASCII whitespace trimmed. Not resolved.
	Value string
	// Raw is the reference exactly as written: src[Start:End].
	Raw string
	// Start and End are byte offsets of Raw in the scanned source.
	Start, End int
	// Line is the 1-based line of Start.
	Line int
	// Tag is the element name, lower case ("img"), "style" for a <style>
	// block, "" for a CSS or JavaScript file. Attr is the attribute
	// ("srcset", "href", "style", "content") or, in CSS, the construct:
	// "url()", "@import", "image-set()", "src()", "sourceMappingURL".
	Tag, Attr string
	Kind      Kind
	// Inexact is set when Raw/Start/End cover a whole attribute value
	// rather than the reference itself (see the package doc); such a Ref
	// must not be rewritten.
	Inexact bool
	// Srcdoc is set for references inside an iframe srcdoc document: they
	// resolve against the embedding page's base URL but their fragments
	// name anchors of the srcdoc document, not of the page.
	Srcdoc bool
}

// Visitor receives what ScanHTML finds.
type Visitor interface {
	// Ref is called for every reference.
	Ref(r Ref)
	// Anchor is called for every fragment target: id on any element, name
	// on a and map. name is entity-decoded and may be empty only if the
	// document has id="".
	Anchor(name string, line int)
	// Base is called for the first <base href> (later ones are ignored).
	Base(href string, line int)
}

// Funcs adapts functions to a Visitor; nil fields ignore the call.
type Funcs struct {
	OnRef    func(Ref)
	OnAnchor func(name string, line int)
	OnBase   func(href string, line int)
}

func (f Funcs) Ref(r Ref) {
	if f.OnRef != nil {
		f.OnRef(r)
	}
}

func (f Funcs) Anchor(name string, line int) {
	if f.OnAnchor != nil {
		f.OnAnchor(name, line)
	}
}

func (f Funcs) Base(href string, line int) {
	if f.OnBase != nil {
		f.OnBase(href, line)
	}
}

// Options for ScanHTML. The zero value is ready to use.
type Options struct {
	// DataAttrs names data-* attributes ("data-src", "data-srcset",
	// "data-background") whose values are references (Kind Resource), as
	// used by lazy-loading scripts. A name ending in "srcset" is parsed as
	// a srcset. Names are matched case-insensitively.
	DataAttrs []string
	// Filter, if set, is asked before the references of an attribute
	// value or a <style> block are decoded and reported, with the raw
	// (undecoded) bytes of the whole value or block; if it returns false
	// they are skipped. It lets a caller that looks for a few names skip
	// the cost of the others; it must be conservative (true when unsure).
	// Anchors and <base> are always reported.
	Filter func(raw []byte) bool
}

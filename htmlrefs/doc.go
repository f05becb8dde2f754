// Package htmlrefs finds the URL references in HTML and CSS documents, with
// the exact byte offsets where each one is written, so that callers can
// check them (package validate) or rewrite them in place (package
// hashassets) without re-rendering the document. It is the one place that
// knows which HTML attributes and CSS constructs carry URLs and how to
// resolve them (see Resolving).
//
// # Contract
//
//   - Scanning never modifies its input and never fails on malformed input.
//     HTML token boundaries are exactly those of golang.org/x/net/html's
//     Tokenizer (WHATWG tokenization: comments, raw text of script/style/
//     textarea/title, the script escape states, ...): tokenizer.go is an
//     in-memory port of it, about 5x faster because it skips text with
//     memchr and allocates nothing, and FuzzTokenizerBoundaries checks it
//     token for token against the original. Attribute values are decoded
//     as the Tokenizer decodes them (checked by FuzzScanHTML). CSS goes
//     through a CSS Syntax Level 3 tokenizer that understands comments,
//     strings, escapes, url() tokens with or without quotes and spaces,
//     @import, image-set() and src().
//   - For every Ref, Raw == string(src[Start:End]) in the scanned document,
//     and replacing src[Start:End] by another URL changes that reference
//     and nothing else. Exception: a Ref with Inexact set (a reference inside
//     an entity-encoded iframe srcdoc whose own bytes cannot be located, or
//     an attribute value whose character references could not be mapped)
//     covers the whole attribute value; its Value is still exact, but it
//     must not be rewritten.
//   - Value is the URL as the browser sees it: character references decoded
//     (HTML), escapes decoded (CSS), leading and trailing ASCII whitespace
//     removed. It is not resolved; see Resolve and SplitURL.
//   - References are reported in document order (offset order), except
//     that refs found inside an attribute are reported when the tag is.
//   - Only the first of several attributes with the same name counts, as
//     in browsers.
//   - Scanning is safe for concurrent use: there is no shared state.
//
// # What is a reference
//
// Navigation (must be a page or anchor, but a miss is a broken link):
// a/area href, iframe/frame src, form action, button/input formaction,
// link href with a rel other than the resource ones below (canonical,
// alternate, next, prev, ...), img/object usemap ("#name"), SVG a href.
//
// Resource (must exist for the page to render): img src/srcset, picture
// source srcset, audio/video/source/track/embed/script/input src, video
// poster, object data, link href/imagesrcset for rel stylesheet, icon,
// apple-touch-icon, mask-icon, preload, modulepreload, prefetch, manifest;
// SVG image/use/feImage/pattern/gradient/textPath/mpath/script href and
// xlink:href, body background; every url(), @import, image-set() and src()
// in style attributes, <style> blocks and CSS files; data-* attributes named
// in Options.DataAttrs.
//
// SourceMap: /*# sourceMappingURL=... */ in CSS, //# sourceMappingURL=...
// in JavaScript (ScanSourceMap). Refresh: <meta http-equiv=refresh
// content="N; url=...">.
//
// Anchors (Visitor.Anchor): id on any element, name on a and map.
// <base href> (Visitor.Base): the first one; it is not reported as a Ref.
//
// # Resolving
//
// This package is also the one resolver of references: hashassets (through
// Resolve) and validate (through Site and Base) both map a reference to a
// file of the site here, so they agree on what a link points to. Resolve
// and Base.Resolve turn a Value into a Target: Local (a path relative to
// the site root, percent-decoded, cleaned, never above the root), External
// (another origin or scheme, with its Scheme), SameDocument, or Outside
// (the site's origin outside its base path), the way a browser would given
// the document's path and its <base href>, followed by the mapping of a
// URL path to a file a static server makes. The rules, at the top of
// url.go, in short: leading and trailing C0 controls and spaces are
// trimmed and tabs and newlines dropped (Clean); a scheme is compared in
// lower case ("C:\x" has the scheme "c"); two leading slashes in any mix
// of '/' and '\' start a host; '\' is '/' in a path; the path is
// percent-decoded before its segments are split ("%2F" separates); ".."
// stops at the origin's root as in browsers ("/../a" is "/a"; Clamped
// says so); NUL is never decoded. TestResolveDisputed lists the cases on
// which the earlier resolvers of htmlrefs and validate disagreed, with
// their one answer. SplitURL, IsExternal, IsEmpty and FileName are the
// cheap pieces callers use before (or instead of) resolving.
//
// # Differences from the first sketch of this API
//
// Resolve takes (docPath, base, ref string) and returns a Target rather
// than taking a *url.URL: the callers work with site-relative paths, and
// a base with a scheme or host cannot be known to be this site (it makes
// relative refs External) unless a Site lists its URL. Site and Base
// serve validate, which resolves many references per page against a base
// path and site URLs. Ref gained Inexact and Srcdoc; Funcs adapts plain
// functions to a Visitor; ScanSourceMap covers JavaScript source map
// comments; UnescapeCSS decodes CSS escapes.
//
// Not references: <script>/<textarea>/<title> text, comments, attributes
// of end tags, ping, cite, longdesc, presentation attributes such as
// fill="url(#g)". <noscript> content is scanned as HTML (a page is also
// seen by clients without scripting).
package htmlrefs

// Package hashassets gives the assets of a staged release content-hashed
// names and rewrites every reference to them, so that browsers and CDNs
// may cache them forever. It runs between extraction and validation.
//
// # Names
//
// An asset dir/name.ext is published as dir/name.<h>.ext, where <h> is
// the first 10 hex digits of the sha256 of the file's final bytes, after
// its own references were rewritten: anyone can verify a name with
// sha256sum. Files are processed in topological order of the reference
// graph (leaves first), so a parent's name changes when a child's does.
//
// A reference cycle (a.css imports b.css imports a.css, or a file that
// references itself) is one unit: its members share
// <h> = sha256 over the members sorted by path of (path, NUL, sha256 of
// the member with its references outside the cycle rewritten, NUL); then
// each member's references to the cycle are rewritten to the shared
// names. This always terminates and is deterministic; it is the one case
// where a name is not the hash of the file's own bytes (Asset.SHA256
// always is).
//
// # What is hashed
//
// Files matched by Options.Include and not by Options.Exclude (doublestar
// globs, matched against the path and its lower-case form), never HTML
// pages, never symlinks, and never a file whose name already carries a
// hash (BuildHashed: ours, webpack's, Vite's, esbuild's...).
//
// # What is rewritten
//
// Every reference found by package htmlrefs, in HTML pages (all URL
// attributes, every srcset candidate, meta refresh, SVG href, style
// attributes and blocks, iframe srcdoc) and in CSS (url(), @import,
// image-set(), src()), plus the sourceMappingURL of CSS and JavaScript
// files, when it resolves (relative to the file, its <base href>, or the
// site root) to a hashed asset. Only the URL's file name changes: the hash
// is inserted before the extension in the bytes as written, so relative
// paths, ../, root-relative form, percent-encoding, character references,
// ?query and #fragment are preserved, and every other byte of the file is
// identical. References that are external (a scheme, //host),
// fragment-only, or to files that do not exist are left alone.
//
// JavaScript import specifiers are not rewritten: doing it safely needs a
// JavaScript parser (a string that looks like an import inside a template
// literal, a regular expression or a comment must not change), and since
// originals stay in place an unrewritten import still works, it only
// misses the immutable cache policy.
//
// # Originals stay
//
// The original name remains, as a hard link to the hashed file (same
// bytes), so references the rewriter could not see still work.
//
// # Writes
//
// Staged files are read-only and often hard links shared with earlier
// releases: a file with more than one link is never opened for writing.
// New content is written to a temporary name in the same directory and
// renamed over the target (rename(2) is atomic for readers of that path
// and breaks only that path's link). With Options.InPlace (the deploy
// pipeline's setting: its staging tree is private and discarded on
// failure), a page with exactly one link is rewritten in place instead,
// which costs a write rather than a file creation, a rename and a freed
// inode. With Options.Reuse, a file whose final bytes the caller already
// has (the live release's copy) is linked by the caller, not written.
// Nothing is fsynced: the pipeline makes the staged tree durable once
// (syncfs) before activation.
//
// # Cost
//
// Assets are read, ordered and written first; then each page is read
// once into a reused buffer, scanned, rewritten and written, on
// Options.Workers goroutines. Manifest.ChangedFiles gives the digests of
// everything written, so the caller need not read it again.
//
// Hashing is idempotent (a hashed tree is a fixed point: an asset whose
// hashed sibling already exists with the same bytes is recognised as done)
// and deterministic (the same input gives the same bytes and manifest).
package hashassets

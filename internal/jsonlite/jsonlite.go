// Package jsonlite reads the small JSON documents the release store
// writes on the path of every switch (the live-state checkpoint, journal
// lines, the release record, the hashed-asset list) without reflection.
//
// Why: in a process that starts, switches a release and exits, the first
// use of encoding/json costs about 0.25 ms and each new type 0.1-0.3 ms
// more (reflection caches and fresh memory, on machines where a page
// fault costs 10 µs or more), about a quarter of a rollback's own work.
//
// Re-measured when releasectl became one program linking encoding/json
// anyway (the --json documents, the daemon's client): releasectl with the
// store decoding and encoding with encoding/json instead was slower by
// 0.35-1.4 ms (p50) and 1.2-1.4 ms (user+sys, p50) per rollback on a slow
// 2-core VM, rollback at 3.75x `mv -T` (user+sys 3.99-4.44x) instead of
// 3.43-3.69x (3.76-4.09x): still worth it, against a budget of 4x.
//
// The contract: a reader handles only the plain case and reports failure
// (End reports false) for anything else: a string with a backslash escape, invalid
// UTF-8 or a control character, a number that is not a plain integer, a
// key that differs from an expected one only in case (encoding/json would
// match it), a repeated key. The callers then decode the same bytes with
// encoding/json, so the result is always the one encoding/json gives; the
// fuzz tests of the callers check exactly that. A Reader is not safe for
// concurrent use.
package jsonlite

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Reader reads one JSON value from a byte slice.
type Reader struct {
	b   []byte
	i   int
	err bool
}

// NewReader returns a reader of b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// End reports whether only white space is left and nothing failed.
func (r *Reader) End() bool {
	r.ws()
	return !r.err && r.i == len(r.b)
}

func (r *Reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *Reader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	r.err = true
	return 0
}

// Null consumes a null and reports whether there was one.
func (r *Reader) Null() bool {
	if r.err || r.peek() != 'n' {
		return false
	}
	return r.lit("null")
}

func (r *Reader) lit(s string) bool {
	if len(r.b)-r.i < len(s) || string(r.b[r.i:r.i+len(s)]) != s {
		r.err = true
		return false
	}
	r.i += len(s)
	return true
}

// String returns the next value, which must be a string without escapes,
// as raw bytes of the input.
func (r *Reader) String() []byte {
	if r.err || r.peek() != '"' {
		r.err = true
		return nil
	}
	start := r.i + 1
	for j := start; j < len(r.b); j++ {
		c := r.b[j]
		if c == '"' {
			s := r.b[start:j]
			if !utf8.Valid(s) {
				break
			}
			r.i = j + 1
			return s
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	r.err = true
	return nil
}

// Int returns the next value, which must be an integer that fits 64 bits.
func (r *Reader) Int() int64 {
	if r.err {
		return 0
	}
	r.ws()
	j := r.i
	if j < len(r.b) && r.b[j] == '-' {
		j++
	}
	for j < len(r.b) && r.b[j] >= '0' && r.b[j] <= '9' {
		j++
	}
	if j < len(r.b) && (r.b[j] == '.' || r.b[j] == 'e' || r.b[j] == 'E') {
		r.err = true
		return 0
	}
	s := string(r.b[r.i:j])
	if len(s) > 1 && (s[0] == '0' || s[0] == '-' && s[1] == '0' && len(s) > 2) {
		r.err = true // leading zero: not JSON
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.err = true
		return 0
	}
	r.i = j
	return v
}

// Bool returns the next value, which must be true or false.
func (r *Reader) Bool() bool {
	switch r.peek() {
	case 't':
		return r.lit("true")
	case 'f':
		r.lit("false")
		return false
	}
	r.err = true
	return false
}

// Object reads an object and calls fn with each key (without escapes);
// fn must read or Skip the value. keys lists the struct fields the caller
// knows (nil for a map): a repeated one, a key equal to one of them but
// for ASCII case, or a key with a non-ASCII byte fails the reader, as
// encoding/json would match them differently.
func (r *Reader) Object(keys []string, fn func(key []byte)) {
	if r.err || r.peek() != '{' {
		r.err = true
		return
	}
	r.i++
	var seen uint64
	if r.peek() == '}' {
		r.i++
		return
	}
	for !r.err {
		k := r.String()
		if r.err || r.peek() != ':' {
			r.err = true
			return
		}
		r.i++
		if len(keys) > 0 && !ascii(k) {
			r.err = true // encoding/json folds some non-ASCII letters too
			return
		}
		for n, want := range keys {
			if string(k) == want {
				if n >= 64 || seen&(1<<n) != 0 {
					r.err = true
					return
				}
				seen |= 1 << n
				break
			}
			if len(k) == len(want) && strings.EqualFold(string(k), want) { // k is ASCII here
				r.err = true
				return
			}
		}
		fn(k)
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return
		default:
			r.err = true
		}
	}
}

// Array reads an array and calls fn for each element, which fn must read
// or Skip.
func (r *Reader) Array(fn func()) {
	if r.err || r.peek() != '[' {
		r.err = true
		return
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		return
	}
	for !r.err {
		fn()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return
		default:
			r.err = true
		}
	}
}

// Skip reads any value the reader handles and drops it.
func (r *Reader) Skip() {
	switch c := r.peek(); {
	case r.err:
	case c == '"':
		r.String()
	case c == '{':
		r.Object(nil, func([]byte) { r.Skip() })
	case c == '[':
		r.Array(r.Skip)
	case c == 't' || c == 'f':
		r.Bool()
	case c == 'n':
		r.Null()
	default:
		r.Int()
	}
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Time returns the next value, a string as time.Time.MarshalJSON writes it
// (RFC 3339 with nanoseconds, trailing zeros trimmed); any other form of
// time fails the reader, as it may parse differently.
func (r *Reader) Time() time.Time {
	s := r.String()
	if r.err {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	var buf [64]byte
	if err != nil || string(t.AppendFormat(buf[:0], time.RFC3339Nano)) != string(s) {
		r.err = true
		return time.Time{}
	}
	return t
}

// Str is String as a string.
func (r *Reader) Str() string { return string(r.String()) }

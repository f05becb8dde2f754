// Package accesslog reads web server access logs and attributes each
// request to the release that served it, so that the daemon can watch a new
// release's error rate. The nginx format (packaging/web/release-agent-http.conf)
// logs $realpath_root, the resolved document root ROOT/releases/vN, which names
// the release exactly, canary cohorts included; Caddy's JSON access log has no
// resolved root, so its entries carry Release "" and must be attributed by time.
package accesslog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Entry is one request.
type Entry struct {
	Time     time.Time
	Status   int
	Path     string        // request path without query, percent-decoded when valid
	Bytes    int64         // response body bytes
	Duration time.Duration // request time
	Release  string        // "vN" from $realpath_root ROOT/releases/vN; "" when not a release root
	Root     string        // the raw resolved root
}

// ErrFormat is wrapped by every parse error: the line is not in the expected format.
var ErrFormat = errors.New("access log line not in the expected format")

// ReleaseOf returns "vN" when root is ROOT/releases/vN (N decimal digits), else "".
func ReleaseOf(root string) string {
	i := len(root)
	for i > 0 && root[i-1] == '/' {
		i--
	}
	root = root[:i]
	j := i - 1
	for j >= 0 && root[j] != '/' {
		j--
	}
	last := root[j+1:]
	if len(last) < 2 || last[0] != 'v' || j < 0 {
		return ""
	}
	for k := 1; k < len(last); k++ {
		if last[k] < '0' || last[k] > '9' {
			return ""
		}
	}
	parent := root[:j]
	if len(parent) < len("/releases") || parent[len(parent)-len("/releases"):] != "/releases" {
		return ""
	}
	return last
}

// IsPage reports whether path counts as a page: it ends in "/", ".html" or
// ".htm", or its last segment has no extension.
func IsPage(path string) bool {
	if path == "" || path[len(path)-1] == '/' {
		return true
	}
	i := len(path) - 1
	for i >= 0 && path[i] != '/' {
		if path[i] == '.' {
			ext := path[i:]
			return ext == ".html" || ext == ".htm"
		}
		i--
	}
	return true
}

// maxSeconds bounds a number of seconds so that it fits in an int64 of
// nanoseconds (9e9 s: the year 2255 for $msec).
const maxSeconds = 9e9

// parseSeconds parses a non-negative decimal number of seconds such as "1700000000.123" or "0.002" (at most
// maxSeconds), into nanoseconds (fraction digits past the 9th are
// checked and dropped). strconv, not a hand-written parser: one
// measured 68 ns a line faster, 0.14% of a core at 20,000 requests/s, not
// worth a second parser.
func parseSeconds(b []byte) (int64, bool) {
	whole, frac, dot := strings.Cut(string(b), ".")
	sec, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || sec > maxSeconds || (dot && frac == "") {
		return 0, false
	}
	if len(frac) > 9 { // below a nanosecond: checked, then dropped
		if _, err := strconv.ParseUint(frac[9:], 10, 64); err != nil {
			return 0, false
		}
		frac = frac[:9]
	}
	var ns uint64
	if dot {
		if ns, err = strconv.ParseUint(frac, 10, 64); err != nil {
			return 0, false
		}
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	return int64(sec)*1e9 + int64(ns), true
}

// parseInt parses a non-negative decimal integer of at most 18 digits.
func parseInt(b []byte) (int64, bool) {
	if len(b) > 18 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b), 10, 63)
	return int64(n), err == nil
}

// unescapeJSON undoes nginx's escape=json (\" \\ \n \r \t \b \f \uXXXX).
func unescapeJSON(b []byte) ([]byte, bool) {
	if bytes.IndexByte(b, '\\') < 0 {
		return b, true
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(b) {
			return nil, false
		}
		switch b[i] {
		case '"', '\\', '/':
			out = append(out, b[i])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			if i+4 >= len(b) {
				return nil, false
			}
			v, err := strconv.ParseUint(string(b[i+1:i+5]), 16, 16)
			if err != nil {
				return nil, false
			}
			out = append(out, string(rune(v))...)
			i += 4
		default:
			return nil, false
		}
	}
	return out, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// requestPath returns the path of a raw request URI: the part before '?',
// percent-decoded when every escape is valid, else as sent.
func requestPath(uri []byte) string {
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	if bytes.IndexByte(uri, '%') < 0 {
		return string(uri)
	}
	out := make([]byte, 0, len(uri))
	for i := 0; i < len(uri); i++ {
		if uri[i] != '%' {
			out = append(out, uri[i])
			continue
		}
		if i+2 >= len(uri) {
			return string(uri)
		}
		h, ok1 := unhex(uri[i+1])
		l, ok2 := unhex(uri[i+2])
		if !ok1 || !ok2 {
			return string(uri)
		}
		out = append(out, h<<4|l)
		i += 2
	}
	return string(out)
}

func formatErr(what string, line []byte) error {
	if len(line) > 80 {
		line = line[:80]
	}
	return fmt.Errorf("%w: %s in %q", ErrFormat, what, line)
}

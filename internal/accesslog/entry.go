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

// parseSeconds parses a non-negative decimal number of seconds such as
// "1700000000.123" or "0.002" into nanoseconds (digits past the 9th of the
// fraction are checked and ignored).
//
// Hand-written rather than strconv on purpose: with strconv (ParseUint, or
// Atoi, on the parts either side of the '.') ParseNginx took 219 ns a line
// instead of 151 (+45%, median of 12 interleaved runs on the 2-core dev VM,
// BenchmarkNumbers in bench_test.go keeps the comparison).
// FuzzParseNginx checks it against the strconv version.
func parseSeconds(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 32 {
		return 0, false
	}
	var sec, frac int64
	scale := int64(1e9)
	i := 0
	for ; i < len(b) && b[i] != '.'; i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		sec = sec*10 + int64(c-'0')
		if sec > maxSeconds {
			return 0, false
		}
	}
	if i == 0 {
		return 0, false
	}
	if i < len(b) {
		i++
		if i == len(b) {
			return 0, false
		}
		for ; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			if scale > 1 {
				scale /= 10
				frac += int64(c-'0') * scale
			}
		}
	}
	return sec*1e9 + frac, true
}

// parseInt parses a non-negative decimal integer of at most 18 digits (no
// sign), as strconv.ParseUint(s, 10, 63) would; hand-written for the same
// reason as parseSeconds.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
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

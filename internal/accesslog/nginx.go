package accesslog

import (
	"bytes"
	"time"
)

// NginxFormat is the log_format the parser reads, as shipped in
// packaging/web/release-agent-http.conf: tab-separated, escape=json (so a tab,
// quote, backslash or control byte inside a field is escaped and cannot split
// it), in the order $msec $status $request_uri $body_bytes_sent $request_time
// $realpath_root.
const NginxFormat = `$msec\t$status\t$request_uri\t$body_bytes_sent\t$request_time\t$realpath_root`

// ParseNginx parses one line (without its newline) of the release_agent
// log_format. It allocates only the Path and Root strings. Errors wrap ErrFormat.
func ParseNginx(line []byte) (Entry, error) {
	var f [6][]byte
	rest := line
	for i := 0; i < 5; i++ {
		j := bytes.IndexByte(rest, '\t')
		if j < 0 {
			return Entry{}, formatErr("fewer than 6 tab-separated fields", line)
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	if bytes.IndexByte(rest, '\t') >= 0 {
		return Entry{}, formatErr("more than 6 tab-separated fields", line)
	}
	f[5] = rest
	var e Entry
	ns, ok := parseSeconds(f[0])
	if !ok {
		return Entry{}, formatErr("bad $msec", line)
	}
	e.Time = time.Unix(0, ns)
	st, ok := parseInt(f[1])
	if !ok || st < 100 || st > 999 {
		return Entry{}, formatErr("bad $status", line)
	}
	e.Status = int(st)
	uri, ok := unescapeJSON(f[2])
	if !ok {
		return Entry{}, formatErr("bad escape in $request_uri", line)
	}
	e.Path = requestPath(uri)
	if e.Bytes, ok = parseInt(f[3]); !ok {
		return Entry{}, formatErr("bad $body_bytes_sent", line)
	}
	d, ok := parseSeconds(f[4])
	if !ok {
		return Entry{}, formatErr("bad $request_time", line)
	}
	e.Duration = time.Duration(d)
	root, ok := unescapeJSON(f[5])
	if !ok {
		return Entry{}, formatErr("bad escape in $realpath_root", line)
	}
	e.Root = string(root)
	e.Release = ReleaseOf(e.Root)
	return e, nil
}

package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what ParseWrk reads from wrk's report.
type WrkResult struct {
	Requests     int64   `json:"requests"`      // "N requests in ..."
	RequestsSec  float64 `json:"requests_sec"`  // "Requests/sec: X"
	Non2xx3xx    int64   `json:"non_2xx_3xx"`   // "Non-2xx or 3xx responses: N"
	SocketErrors int64   `json:"socket_errors"` // connect+read+write+timeout
}

// ErrWrkOutput is returned (wrapped, naming the line) when wrk's report
// cannot be read.
var ErrWrkOutput = errors.New("unrecognised wrk output")

// ParseWrk reads wrk's text report. It requires the "requests in" and
// "Requests/sec:" lines; the error lines are optional (wrk prints them only
// when non-zero).
func ParseWrk(out []byte) (WrkResult, error) {
	var r WrkResult
	var haveReq, haveRate bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(line, " requests in "):
			f := strings.Fields(line)
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || n < 0 {
				return r, fmt.Errorf("%w: line %q: request count", ErrWrkOutput, line)
			}
			r.Requests, haveReq = n, true
		case strings.HasPrefix(line, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil || v < 0 || v != v {
				return r, fmt.Errorf("%w: line %q: rate", ErrWrkOutput, line)
			}
			r.RequestsSec, haveRate = v, true
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil || n < 0 {
				return r, fmt.Errorf("%w: line %q: non-2xx count", ErrWrkOutput, line)
			}
			r.Non2xx3xx = n
		case strings.HasPrefix(line, "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for _, part := range strings.Split(strings.TrimPrefix(line, "Socket errors:"), ",") {
				f := strings.Fields(part)
				if len(f) != 2 {
					return r, fmt.Errorf("%w: line %q: socket errors", ErrWrkOutput, line)
				}
				n, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil || n < 0 {
					return r, fmt.Errorf("%w: line %q: socket errors", ErrWrkOutput, line)
				}
				r.SocketErrors += n
			}
		}
	}
	if !haveReq || !haveRate {
		return r, fmt.Errorf("%w: no \"requests in\" or \"Requests/sec:\" line", ErrWrkOutput)
	}
	return r, nil
}

// RunWrk runs bin (wrk) against url, which must be on the loopback
// interface, with the given threads, connections and duration, and
// parses its report.
func RunWrk(ctx context.Context, bin, url string, threads, conns int, d time.Duration) (WrkResult, error) {
	if _, err := checkLoopback(url); err != nil {
		return WrkResult{}, err
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "5s", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	r, err := ParseWrk(out)
	if err != nil {
		return r, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	return r, nil
}

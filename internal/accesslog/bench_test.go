package accesslog

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchLine is a typical line of the shipped format: a page with a query.
var benchLine = []byte("1733346000.123\t200\t/docs/getting-started/index.html?utm_source=x\t5123\t0.001\t/srv/www/www/releases/v42")

func BenchmarkParseNginx(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		if _, err := ParseNginx(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWindowAdd(b *testing.B) {
	w := NewWindow(5 * time.Minute)
	e, err := ParseNginx(benchLine)
	if err != nil {
		b.Fatal(err)
	}
	releases := []string{"v41", "v42"}
	start := e.Time
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// 20,000 entries a second of log time, two releases.
		e.Time = start.Add(time.Duration(i) * 50 * time.Microsecond)
		e.Release = releases[i&1]
		w.Add(e)
		i++
	}
}

// strconvSeconds and strconvInt are parseSeconds and parseInt written with
// strconv: the reference FuzzParseNginx checks them against, and the
// baseline of BenchmarkNumbers.
func strconvSeconds(b []byte) (int64, bool) {
	whole, frac, dot := strings.Cut(string(b), ".")
	sec, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || sec > maxSeconds || len(b) > 32 {
		return 0, false
	}
	ns := int64(sec) * 1e9
	if !dot {
		return ns, true
	}
	if frac == "" {
		return 0, false
	}
	if len(frac) > 9 {
		if _, err := strconv.ParseUint(frac[9:], 10, 64); err != nil {
			return 0, false
		}
		frac = frac[:9]
	}
	f, err := strconv.ParseUint(frac, 10, 64)
	if err != nil {
		return 0, false
	}
	for i := len(frac); i < 9; i++ {
		f *= 10
	}
	return ns + int64(f), true
}

func strconvInt(b []byte) (int64, bool) {
	if len(b) > 18 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b), 10, 63)
	return int64(n), err == nil
}

// BenchmarkNumbers parses the four numbers of a line (the $msec, $status,
// $body_bytes_sent and $request_time of benchLine) with the hand-written
// parsers and with strconv, to compare with BenchmarkParseNginx.
func BenchmarkNumbers(b *testing.B) {
	fields := bytes.Split(benchLine, []byte("\t"))
	b.Run("handwritten", func(b *testing.B) {
		for b.Loop() {
			parseSeconds(fields[0])
			parseInt(fields[1])
			parseInt(fields[3])
			parseSeconds(fields[4])
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for b.Loop() {
			strconvSeconds(fields[0])
			strconvInt(fields[1])
			strconvInt(fields[3])
			strconvSeconds(fields[4])
		}
	})
}

package accesslog

import (
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

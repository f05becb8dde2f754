package s3

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// pythonDocs is the real site of the benchmarks (Debian's python3.11-doc).
const pythonDocs = "/usr/share/doc/python3.11/html"

// countingWriter counts the bytes of the responses a getCounter forwards.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

func (c countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// BenchmarkMirrorOneFileChange: python3.11-doc uploaded with `mc mirror`
// and an empty marker; one file changed and mirrored again. Pulled with
// the sum cache and the previous pull as the live release, against a
// full pull and `mc cp --recursive` of the same prefix in the same run
// (medians of 3). Bytes are every response body through a proxy in front
// of MinIO (listing included). Reported: time and bytes as ratios.
func BenchmarkMirrorOneFileChange(b *testing.B) {
	if _, err := os.Stat(pythonDocs); err != nil {
		testenv.Missing(b, "python3.11-doc not installed (apt-get install -y python3.11-doc)")
	}
	mc := testenv.Tool(b, "mc")
	src := filepath.Join(b.TempDir(), "site")
	if out, err := exec.Command("cp", "-rL", pythonDocs, src).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v\n%s", err, out)
	}
	m := testenv.StartMinIO(b, nil)
	m.MakeBucket(b, "site")
	mcMirror(b, m, src, "site", "docs/")

	g := newGetCounter(b, m)
	var moved atomic.Int64
	inner := g.srv.Config.Handler
	g.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(countingWriter{w, &moved}, r)
	})
	cfg := testConfig(m)
	cfg.Endpoint = g.srv.URL
	const spec = "s3://site/docs/"
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }

	// Full pulls: no live release, an empty cache each time.
	var full []time.Duration
	var fullBytes int64
	for range 3 {
		moved.Store(0)
		t0 := time.Now()
		pull(b, cfg, spec, b.TempDir(), "", nil)
		full = append(full, time.Since(t0))
		fullBytes = moved.Load()
	}
	// mc cp --recursive of the same prefix.
	var mcs []time.Duration
	for range 3 {
		dst := b.TempDir()
		cmd := exec.Command(mc, "cp", "--recursive", "--quiet", "t/site/docs/", dst+"/")
		cmd.Env = mcEnv(b, m)
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("mc cp: %v\n%s", err, out)
		}
		mcs = append(mcs, time.Since(t0))
	}
	// The live release and its cache, then one changed file per round.
	state := b.TempDir()
	live, man, _ := pull(b, cfg, spec, state, "", nil)
	var incr []time.Duration
	var incrBytes int64
	var st Stats
	index := filepath.Join(src, "index.html")
	b.ResetTimer()
	for i := range 3 {
		f, err := os.OpenFile(index, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		f.WriteString("<!-- change " + strconv.Itoa(i) + " -->\n")
		f.Close()
		mcMirror(b, m, src, "site", "docs/")
		g.take()
		moved.Store(0)
		t0 := time.Now()
		live, man, st = pull(b, cfg, spec, state, live, man)
		incr = append(incr, time.Since(t0))
		incrBytes = moved.Load()
		if got := g.take(); len(got) != 1 || st.Downloaded != 1 {
			b.Fatalf("round %d: %d GETs %q, stats %+v; want the one changed object", i, len(got), got, st)
		}
	}
	b.StopTimer()
	fm, im, mm := median(full), median(incr), median(mcs)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(float64(st.Objects), "objects")
	b.ReportMetric(ms(im), "incr-ms")
	b.ReportMetric(ms(fm), "full-ms")
	b.ReportMetric(ms(mm), "mc-cp-ms")
	b.ReportMetric(float64(im)/float64(fm), "time/full")
	b.ReportMetric(float64(im)/float64(mm), "time/mc-cp")
	b.ReportMetric(float64(incrBytes), "incr-bytes")
	b.ReportMetric(float64(fullBytes), "full-bytes")
	b.ReportMetric(float64(incrBytes)/float64(fullBytes), "bytes/full")
}

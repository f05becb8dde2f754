package s3

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/manifest"
)

// BenchmarkPrefixOneFileChange: a one-file change to a 10,000-file prefix
// (marker with sha256s) against a full pull of the same prefix, measured in
// the same run. Reported: time_ratio and bytes_ratio (target ≤ 0.05).
func BenchmarkPrefixOneFileChange(b *testing.B) {
	m := testenv.StartMinIO(b, nil)
	m.MakeBucket(b, "site")
	const n = 10_000
	files := site(n, "v1")
	for k, v := range files { // typical static-site files: about 4 KiB
		files[k] = append(v, bytes.Repeat([]byte("<p>lorem ipsum</p>\n"), 200)...)
	}
	names := make([]string, 0, n)
	for k := range files {
		names = append(names, k)
	}
	var wg sync.WaitGroup
	ch := make(chan string)
	for range 8 {
		wg.Go(func() {
			for k := range ch {
				put(b, m.Client, "site", "www/"+k, files[k], nil)
			}
		})
	}
	for _, k := range names {
		ch <- k
	}
	close(ch)
	wg.Wait()
	writeMarker := func() {
		var mk bytes.Buffer
		for k, body := range files {
			fmt.Fprintf(&mk, "%s  %s\n", hexsum(body), k)
		}
		put(b, m.Client, "site", "www/"+DefaultMarker, mk.Bytes(), nil)
	}
	writeMarker()
	cfg := testConfig(m)

	pull := func(liveDir string, live *manifest.Manifest) (time.Duration, Stats, *manifest.Manifest, string) {
		w, dir := newWriter(b, liveDir, live)
		start := time.Now()
		src, _, err := fetch(b, cfg, "s3://site/www/", w)
		if err != nil {
			b.Fatal(err)
		}
		man, err := w.Close()
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start), src.Stats(), man, dir
	}
	fullT, fullS, man, liveDir := pull("", nil)
	files["dir3/page10.html"] = []byte("changed")
	put(b, m.Client, "site", "www/dir3/page10.html", files["dir3/page10.html"], nil)
	writeMarker()

	var incT time.Duration
	var incS Stats
	b.ResetTimer()
	for b.Loop() {
		d, st, _, _ := pull(liveDir, man)
		incT += d
		incS = st
	}
	incT /= time.Duration(b.N)
	if incS.Downloaded != 1 {
		b.Fatalf("incremental pull downloaded %d objects, want 1", incS.Downloaded)
	}
	b.ReportMetric(float64(fullT.Milliseconds()), "full_ms")
	b.ReportMetric(float64(incT.Milliseconds()), "incremental_ms")
	b.ReportMetric(float64(incT)/float64(fullT), "time_ratio")
	b.ReportMetric(float64(incS.Bytes)/float64(fullS.Bytes), "bytes_ratio")
	b.ReportMetric(float64(fullS.Bytes), "full_bytes")
	b.ReportMetric(float64(incS.Bytes), "incremental_bytes")
}

var _ = minio.ListObjectsOptions{}
var _ = context.Background

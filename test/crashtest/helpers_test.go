package crashtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/testutil/testenv"
)

// releasectl returns the path of the built releasectl.
func releasectl(t *testing.T) string {
	t.Helper()
	_, ctl := testenv.Binaries(t)
	return ctl
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// soak picks the CI, SOAK=1 or -short count.
func soak(ci, long, short int) int {
	switch {
	case os.Getenv("SOAK") != "":
		return long
	case testing.Short():
		return short
	}
	return ci
}

type result struct {
	stdout, stderr string
	code           int
	wall           time.Duration
}

// command returns releasectl with args and a clean environment (no daemon
// socket, a private HOME).
func command(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(releasectl(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	return cmd
}

func ctl(t *testing.T, args ...string) result {
	t.Helper()
	cmd := command(t, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String(), wall: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustCtl(t *testing.T, args ...string) result {
	t.Helper()
	r := ctl(t, args...)
	if r.code != 0 {
		t.Fatalf("releasectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// list returns `releasectl list --json`.
func list(t *testing.T, root string) api.ListResult {
	t.Helper()
	r := mustCtl(t, "--root", root, "--json", "list")
	var l api.ListResult
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	return l
}

// bigSite writes a tar.gz of n pages in 20 directories plus 42 stylesheets,
// scripts and images that the pages reference (so that hashing and
// validation have work). variant changes a tenth of the pages and a
// quarter of the assets, so consecutive deploys differ and the rest is
// hardlinked.
func bigSite(t *testing.T, n, variant int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), fmt.Sprintf("big-%d.tar.gz", variant))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	add := func(name string, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	const assets = 42
	for i := range assets {
		v := 0
		if i%4 == 0 {
			v = variant
		}
		switch i % 3 {
		case 0:
			add(fmt.Sprintf("css/s%d.css", i), fmt.Appendf(nil, "/* v%d */ body{background:url(../img/i%d.svg)} .c%d{color:#%03x}\n", v, i+2, i, i))
		case 1:
			add(fmt.Sprintf("js/s%d.js", i), fmt.Appendf(nil, "// v%d\nwindow.s%d=%d;\n", v, i, i))
		case 2:
			add(fmt.Sprintf("img/i%d.svg", i), fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><!-- v%d %d --></svg>`, v, i))
		}
	}
	body := strings.Repeat("lorem ipsum dolor sit amet ", 200)
	for i := range n {
		v := 0
		if i%10 == 0 {
			v = variant
		}
		a := (i % (assets / 3)) * 3
		page := fmt.Sprintf(`<!doctype html><html><head><title>%d</title><link rel="stylesheet" href="../css/s%d.css"></head>
<body><img src="../img/i%d.svg" alt=""><p>%d %s</p><a href="p%d.html">next</a><script src="../js/s%d.js"></script></body></html>`,
			i, a, a+2, v, body, i, a+1)
		add(fmt.Sprintf("d%d/p%d.html", i%20, i), []byte(page))
	}
	// every page links to p<i>.html in its own directory: make those exist
	add("index.html", []byte(`<!doctype html><html><head><title>i</title><link rel="stylesheet" href="css/s0.css"></head><body><p>index</p></body></html>`))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	gz.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

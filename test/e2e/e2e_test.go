// Package e2e drives the built binaries end to end in temporary release
// roots, as an operator would, and compares releasectl --json output with
// golden files (go test ./e2e -update rewrites them).
package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/example/release-agent/internal/testutil/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// ctlBin returns the path of the built releasectl.
func ctlBin(t testing.TB) string {
	_, ctl := testenv.Binaries(t)
	return ctl
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// ctl runs the built releasectl with a clean environment.
func ctl(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(ctlBin(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SSH_CLIENT=192.0.2.7 50000 22"}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{o.String(), e.String(), code}
}

func mustCtl(t *testing.T, args ...string) result {
	t.Helper()
	r := ctl(t, args...)
	if r.code != 0 {
		t.Fatalf("releasectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// siteArchive writes a tar.gz of the example site with marker in place of
// RELEASE_MARKER, plus extra files.
func siteArchive(t *testing.T, marker string, extra map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site-"+marker+".tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	add := func(name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	mod, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(mod, "examples", "site")
	err = filepath.WalkDir(site, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(site, path)
		add(filepath.ToSlash(rel), bytes.ReplaceAll(b, []byte("RELEASE_MARKER"), []byte(marker)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		add(k, []byte(v))
	}
	tw.Close()
	gz.Close()
	f.Close()
	return p
}

var normalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`"\d{4}-\d\d-\d\dT[0-9:.]+Z"`), `"TIME"`},
	{regexp.MustCompile(`"(seconds|pid|uid)": [0-9.e-]+`), `"$1": N`},
	{regexp.MustCompile(`"user": "[^"]*"`), `"user": "USER"`},
	{regexp.MustCompile(`"sha256": "[0-9a-f]{64}"`), `"sha256": "SHA256"`},
	{regexp.MustCompile(`("sha256": "SHA256",\s+"size": )\d+`), `${1}N`}, // compressed size: gzip-version dependent
	{regexp.MustCompile(`"(disk_bytes|logical_bytes)": \d+`), `"$1": N`},
	{regexp.MustCompile(`/tmp/[^"]*?/(\d+/)?(site-[a-z0-9]+\.tar\.gz|root)`), `TMP/$2`},
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	for _, n := range normalizers {
		got = n.re.ReplaceAllString(got, n.repl)
	}
	p := filepath.Join("testdata", name+".golden")
	if *update {
		os.WriteFile(p, []byte(got), 0o644)
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./e2e -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, p, got, want)
	}
}

func TestDeployListRollback(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	a1 := siteArchive(t, "one", nil)
	a2 := siteArchive(t, "two", map[string]string{"new.html": "<!doctype html><title>n</title><a href=\"index.html\">home</a>"})

	r := mustCtl(t, "--root", root, "deploy", a1)
	if strings.TrimSpace(r.stdout) != "v1" {
		t.Fatalf("deploy printed %q, want the id v1", r.stdout)
	}
	// global flags after the verb work too
	r = mustCtl(t, "deploy", a2, "--root", root, "--json")
	var dep struct {
		Schema  int `json:"schema"`
		Release struct {
			ID          string `json:"id"`
			LinkedFiles int    `json:"linked_files"`
		} `json:"release"`
		Activated bool   `json:"activated"`
		Previous  string `json:"previous"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &dep); err != nil {
		t.Fatalf("deploy --json: %v\n%s", err, r.stdout)
	}
	if dep.Schema != 1 || dep.Release.ID != "v2" || !dep.Activated || dep.Previous != "v1" {
		t.Fatalf("deploy --json: %+v", dep)
	}
	if dep.Release.LinkedFiles == 0 {
		t.Errorf("no unchanged file was hardlinked from v1")
	}
	page, _ := os.ReadFile(filepath.Join(root, "current", "index.html"))
	if !bytes.Contains(page, []byte("two")) {
		t.Fatalf("live page is not v2: %s", page)
	}
	golden(t, "list-after-two", mustCtl(t, "--root", root, "--json", "list").stdout)

	r = mustCtl(t, "--root", root, "rollback")
	if !strings.Contains(r.stdout, "v1 is live (was v2)") {
		t.Fatalf("rollback said %q", r.stdout)
	}
	if l, _ := os.Readlink(filepath.Join(root, "current")); l != "releases/v1" {
		t.Fatalf("current -> %s", l)
	}
	golden(t, "status-after-rollback", mustCtl(t, "--root", root, "status", "--json").stdout)
	r = mustCtl(t, "--root", root, "list")
	for _, want := range []string{"* v1", "current", "bad", "v2"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustCtl(t, "--root", root, "history", "--json")
	var h struct {
		Events []struct {
			Event string `json:"event"`
			Who   struct {
				SSHClient string `json:"ssh_client"`
			} `json:"who"`
		} `json:"events"`
	}
	json.Unmarshal([]byte(r.stdout), &h)
	if n := len(h.Events); n != 5 || h.Events[n-1].Event != "rolled-back" || h.Events[n-1].Who.SSHClient != "192.0.2.7 50000 22" {
		t.Fatalf("history: %s", r.stdout)
	}
	r = mustCtl(t, "--root", root, "diff", "v1", "v2")
	if !strings.Contains(r.stdout, "+ new.html") || !strings.Contains(r.stdout, "1 added") {
		t.Errorf("diff:\n%s", r.stdout)
	}
	// pin, prune
	mustCtl(t, "--root", root, "pin", "v2")
	r = mustCtl(t, "--root", root, "prune", "--keep", "1", "--json")
	if !strings.Contains(r.stdout, `"pruned": []`) {
		t.Errorf("prune removed a pinned or previous release: %s", r.stdout)
	}
}

func TestExitCodes(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--root", root, "frobnicate"}, 2, `unknown verb "frobnicate"`},
		{[]string{"--root", root, "deploy"}, 2, "usage: releasectl deploy SOURCE"},
		{[]string{"--root", root, "--bogus", "list"}, 2, "unknown flag: --bogus"},
		{[]string{"--root", root, "activate", "v7x"}, 2, "not a release id"},
		{[]string{"--root", root, "deploy", filepath.Join(root, "missing.tar.gz")}, 1, "missing.tar.gz"},
		{[]string{"--root", root, "rollback"}, 1, "no earlier release"},
		{[]string{"--root", root, "activate", "v9"}, 1, "no such release"},
		{[]string{"--root", filepath.Join(root, "nope"), "list"}, 1, "nope"},
	} {
		r := ctl(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("releasectl %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	// --json errors are a JSON object on stderr
	r := ctl(t, "--root", root, "--json", "activate", "v9")
	var e struct {
		Schema int    `json:"schema"`
		Code   string `json:"code"`
		Exit   int    `json:"exit"`
	}
	if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || e.Code != "not_found" || e.Exit != 1 || r.code != 1 {
		t.Fatalf("json error: %v %q exit %d", err, r.stderr, r.code)
	}
	if r := ctl(t, "--help"); r.code != 0 || !strings.Contains(r.stdout, "Exit status:") || !strings.Contains(r.stdout, "3  rejected by validation") {
		t.Errorf("--help lacks the exit-code table:\n%s", r.stdout)
	}
}

func TestPlainCurrentDirectoryRefused(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "current"), 0o755)
	r := ctl(t, "--root", root, "deploy", siteArchive(t, "x", nil))
	if r.code != 1 || !strings.Contains(r.stderr, "not a symlink") || !strings.Contains(r.stderr, "releasectl --root "+root+" adopt") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if fi, err := os.Lstat(filepath.Join(root, "current")); err != nil || !fi.IsDir() {
		t.Fatal("current was changed")
	}
}

func TestDeployTimeoutChangesNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	mustCtl(t, "--root", root, "deploy", siteArchive(t, "one", nil))
	r := ctl(t, "--root", root, "deploy", siteArchive(t, "two", nil), "--timeout", "1ns")
	if r.code != 1 || !strings.Contains(r.stderr, "timed out after 1ns") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if l, _ := os.Readlink(filepath.Join(root, "current")); l != "releases/v1" {
		t.Fatalf("current -> %s", l)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "state", "staging")); len(ents) != 0 {
		t.Fatalf("staging left behind: %v", ents)
	}
}

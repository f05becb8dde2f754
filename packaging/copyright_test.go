package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// dep5Paragraph is one paragraph of a machine-readable debian/copyright
// file: its fields, continuation lines joined with "\n".
type dep5Paragraph map[string]string

// parseDEP5 splits a copyright file into paragraphs, failing on lines
// that are neither a field, a continuation line nor blank.
func parseDEP5(t *testing.T, b []byte) []dep5Paragraph {
	t.Helper()
	var paras []dep5Paragraph
	var cur dep5Paragraph
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			cur = nil
		case line[0] == ' ' || line[0] == '\t':
			if cur == nil || last == "" {
				t.Fatalf("copyright:%d: continuation line outside a field: %q", n, line)
			}
			cur[last] += "\n" + strings.TrimSpace(line)
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.ContainsAny(k, " \t") {
				t.Fatalf("copyright:%d: not a field: %q", n, line)
			}
			if cur == nil {
				cur = dep5Paragraph{}
				paras = append(paras, cur)
			}
			if _, dup := cur[k]; dup {
				t.Fatalf("copyright:%d: field %s repeated in a paragraph", n, k)
			}
			cur[k], last = strings.TrimSpace(v), k
		}
	}
	return paras
}

// portedRE matches the header of a Go file that holds code ported from
// another project, naming that project's licence.
var portedRE = regexp.MustCompile(`(?m)^// Portions of this file are ported from (\S+)`)

// TestCopyright checks packaging/doc/copyright, installed as
// /usr/share/doc/release-agent/copyright: it is in Debian's
// machine-readable format, the project is Apache-2.0, every Go file
// declaring ported code has a Files paragraph of its own with a licence
// other than the project's, and every licence named has its text.
func TestCopyright(t *testing.T) {
	b, err := os.ReadFile("doc/copyright")
	if err != nil {
		t.Fatal(err)
	}
	paras := parseDEP5(t, b)
	if len(paras) == 0 || paras[0]["Format"] != "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" {
		t.Fatalf("first paragraph is not a DEP-5 header: %v", paras)
	}
	files := map[string]string{}  // Files pattern -> short licence name
	licences := map[string]bool{} // standalone License paragraphs
	for _, p := range paras[1:] {
		lic, ok := p["License"]
		if !ok {
			t.Errorf("paragraph without License: %v", p)
			continue
		}
		name, text, _ := strings.Cut(lic, "\n")
		if pat, ok := p["Files"]; ok {
			if p["Copyright"] == "" {
				t.Errorf("Files: %s has no Copyright", pat)
			}
			for _, f := range strings.Fields(pat) {
				files[f] = name
			}
			if text != "" {
				licences[name] = true
			}
			continue
		}
		if text == "" {
			t.Errorf("License paragraph %s has no text", name)
		}
		licences[name] = true
	}
	if files["*"] != "Apache-2.0" {
		t.Errorf("Files: * is %q, want Apache-2.0", files["*"])
	}
	for pat, name := range files {
		if !licences[name] {
			t.Errorf("Files: %s: licence %s has no License paragraph with its text", pat, name)
		}
		if pat == "*" {
			continue
		}
		if m, _ := filepath.Glob(filepath.Join("..", pat)); len(m) == 0 {
			t.Errorf("Files: %s matches nothing in the repository", pat)
		}
	}
	// Every file that declares ported code is listed under a licence of
	// its own (ported files keep their original licence).
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ported := 0
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !portedRE.Match(src) {
			return nil
		}
		ported++
		rel, _ := filepath.Rel(root, p)
		if name := files[rel]; name == "" || name == "Apache-2.0" {
			t.Errorf("%s holds ported code but has no Files paragraph of its own in doc/copyright (got %q)", rel, name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ported == 0 {
		t.Error("no Go file declares ported code; htmlrefs/tokenizer.go should")
	}
	nfpm, err := os.ReadFile("nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`src: packaging/doc/copyright\n\s+dst: /usr/share/doc/release-agent/copyright\n`).Match(nfpm) {
		t.Error("nfpm.yaml does not install packaging/doc/copyright as /usr/share/doc/release-agent/copyright")
	}
}

// TestDebCopyright builds a .deb with nfpm (stand-in binaries and man
// pages; no root needed), checks that it holds
// /usr/share/doc/release-agent/copyright as in the source, and, when
// lintian is installed, that lintian reports no copyright tag on it.
// (lintian's DEP-5 syntax checks apply to source packages only, so
// TestCopyright does those.)
func TestDebCopyright(t *testing.T) {
	nfpm := testenv.Tool(t, "nfpm") // make tools installs it
	dpkgDeb := need(t, "dpkg-deb")
	dist := t.TempDir()
	for _, f := range []string{"bin/release-agent", "bin/releasectl", "man/release-agent.8.gz", "man/releasectl.1.gz",
		"completion/releasectl.bash", "completion/_releasectl", "completion/releasectl.fish"} {
		p := filepath.Join(dist, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("stand-in\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dist, "release-agent_0.1.0-1_amd64.deb")
	cmd := exec.Command(nfpm, "package", "-f", "packaging/nfpm.yaml", "-p", "deb", "-t", deb)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=0.1.0", "ARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nfpm package: %v\n%s", err, out)
	}
	x := t.TempDir()
	if out, err := exec.Command(dpkgDeb, "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(x, "usr/share/doc/release-agent/copyright"))
	if err != nil {
		t.Fatalf("package lacks the copyright file: %v", err)
	}
	want, _ := os.ReadFile("doc/copyright")
	if !bytes.Equal(got, want) {
		t.Error("packaged /usr/share/doc/release-agent/copyright differs from packaging/doc/copyright")
	}
	lintian, err := exec.LookPath("lintian")
	if err != nil {
		t.Log("lintian not installed: copyright format not checked by it")
		return
	}
	// Only copyright tags: the stand-in binaries draw others.
	out, _ := exec.Command(lintian, "--tag-display-limit=0", deb).CombinedOutput()
	t.Logf("lintian:\n%s", out)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "copyright") || strings.Contains(l, "dep5") || strings.Contains(l, "license") {
			t.Errorf("lintian: %s", l)
		}
	}
}

package validate

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot walks up from the working directory to the directory holding
// go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// needDir returns dir, or skips the test (fails it in CI) when it is missing.
func needDir(t testing.TB, dir, what string) string {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing at %s (required in CI): %v", what, dir, err)
		}
		t.Skipf("%s missing at %s: %v", what, dir, err)
	}
	return dir
}

// peerExpect is where this validator deliberately differs from htmltest
// v0.17.0's count; README.md lists the same cases with the reasons.
var peerExpect = map[string]struct {
	n   int
	why string
}{
	"fixtures/images/srcSetCheck.html":                 {2, "srcset is checked: both candidates are missing"},
	"fixtures/links/link_directory_without_slash.html": {0, "DirWithoutSlash (default): servers redirect dir to dir/"},
	"fixtures/links/hash_href.html":                    {0, `href="#" is always valid (top of the page)`},
	"fixtures/images/multipleProblems.html":            {3, "alt text is not checked: 2 missing targets + 1 img without src"},
	"fixtures/images/badImagesInPre.html":              {8, "alt text is not checked: madeup.xyz x2, blank src x2, img without src x4"},
	"fixtures/links/ignorableLinks.html":               {0, "ignore attribute also as a class (htmltest master behaviour)"},
	"fixtures/links/missingLinkHref.html":              {0, `EmptyHrefOK (default): a href="" links to the page itself`},
}

type peerCase struct {
	path, what, notes string
	want              int
}

func peerCases(t *testing.T) (string, []peerCase) {
	dir := needDir(t, filepath.Join(repoRoot(t), "..", "shared", "peer-suites", "htmltest"), "htmltest peer suite")
	f, err := os.Open(filepath.Join(dir, "cases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.LazyQuotes = true
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("cases.tsv: %v", err)
	}
	var out []peerCase
	for i, row := range rows[1:] {
		n, err := strconv.Atoi(row[2])
		if err != nil {
			t.Fatalf("cases.tsv line %d: count %q: %v", i+2, row[2], err)
		}
		out = append(out, peerCase{row[0], row[1], row[3], n})
	}
	if len(out) < 50 {
		t.Fatalf("cases.tsv: only %d cases", len(out))
	}
	return dir, out
}

// runPeer runs one case as htmltest does: the fixture's folder is the site
// root; a file row checks only that file.
func runPeer(t *testing.T, suite, rel string, opts Options) *Report {
	t.Helper()
	p := filepath.Join(suite, filepath.FromSlash(rel))
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	root := p
	if !st.IsDir() {
		root = filepath.Dir(p)
		opts.Pages = []string{filepath.Base(p)}
	}
	opts.Required = nil
	rep, err := Check(context.Background(), os.DirFS(root), nil, opts)
	if err != nil {
		t.Fatalf("Check %s: %v", rel, err)
	}
	return rep
}

func TestPeerSuite(t *testing.T) {
	suite, cases := peerCases(t)
	for _, c := range cases {
		t.Run(strings.TrimPrefix(c.path, "fixtures/"), func(t *testing.T) {
			want, why := c.want, "htmltest's count"
			if e, ok := peerExpect[c.path]; ok {
				want, why = e.n, e.why
			}
			rep := runPeer(t, suite, c.path, DefaultOptions())
			if len(rep.Findings) != want {
				var b strings.Builder
				rep.WriteText(&b)
				t.Errorf("%s (%s): %d findings, want %d (%s)\n%s", c.path, c.what, len(rep.Findings), want, why, b.String())
			}
		})
	}
}

// TestPeerSuitePolicies runs the policy cases the other way round.
func TestPeerSuitePolicies(t *testing.T) {
	suite, _ := peerCases(t)
	for _, tc := range []struct {
		path string
		set  func(*Options)
		want int
	}{
		{"fixtures/links/no_html_extension.html", func(o *Options) { o.PrettyURLs = true }, 0},
		{"fixtures/links/no_html_extension.html", func(o *Options) {}, 3},
		{"fixtures/links/link_directory_without_slash.html", func(o *Options) { o.DirWithoutSlash = false }, 1},
		{"fixtures/links/ignorableLinks.html", func(o *Options) { o.IgnoreAttrs = nil }, 3},
		{"fixtures/links/missingLinkHref.html", func(o *Options) { o.EmptyHrefOK = false }, 1},
	} {
		o := DefaultOptions()
		tc.set(&o)
		rep := runPeer(t, suite, tc.path, o)
		if len(rep.Findings) != tc.want {
			var b strings.Builder
			rep.WriteText(&b)
			t.Errorf("%s: %d findings, want %d\n%s", tc.path, len(rep.Findings), tc.want, b.String())
		}
	}
}

func TestIndexFold(t *testing.T) {
	for _, tc := range []struct {
		hay, needle string
		want        int
	}{
		{"abc<IMG src", "<img", 3}, {"<ImG", "<img", 0}, {"<im", "<img", -1}, {"", "<img", -1},
		{"xx Data-Proofer-Ignore", "data-proofer-ignore", 3}, {"ddddata-x", "data-x", 3}, {"CCite", "cite", 1},
	} {
		if got := indexFold([]byte(tc.hay), []byte(tc.needle)); got != tc.want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", tc.hay, tc.needle, got, tc.want)
		}
	}
}

package packaging

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/testutil/testenv"
)

// configKeys returns every key of the configuration file as the loader
// reads it ("daemon.control_group", "site.triggers.inbox") and every
// table ("site", "site.health"), from the toml tags of config.Config, so
// a key added there is known here at once.
func configKeys() (keys, tables map[string]bool) {
	keys, tables = map[string]bool{}, map[string]bool{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			if prefix != "" {
				name = prefix + "." + name
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				tables[name] = true
				walk(name, ft)
				continue
			}
			keys[name] = true
		}
	}
	walk("", reflect.TypeFor[config.Config]())
	return keys, tables
}

// keyMentionRE finds what looks like a configuration key in prose:
// dotted words. keyMentions keeps those that start with a table of the
// configuration or contain an underscore (webhook.token_file), and are
// not file or host names.
var keyMentionRE = regexp.MustCompile(`\b[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+\b`)

func keyMentions(text string, tables map[string]bool) []string {
	var out []string
	for _, m := range keyMentionRE.FindAllString(text, -1) {
		parts := strings.Split(m, ".")
		switch parts[len(parts)-1] {
		case "toml", "conf", "sock", "service", "socket", "token", "env", "md", "gz", "deb", "rpm",
			"html", "css", "js", "json", "jsonl", "yaml", "yml", "log", "tar", "zst", "zip", "tgz",
			"org", "net", "com", "io", "d", "target", "timer", "txt", "pem", "key", "crt", "go", "sh":
			continue
		}
		if tables[parts[0]] || strings.Contains(m, "_") {
			out = append(out, m)
		}
	}
	return out
}

// TestKeysNamedExist: every configuration key that a file of packaging/
// names (unit comments, man pages, README, the default config with its
// commented-out keys) is a key the loader knows.
func TestKeysNamedExist(t *testing.T) {
	keys, tables := configKeys()
	if !keys["daemon.webhook_token_file"] || !keys["site.triggers.inbox"] || !tables["site.health"] {
		t.Fatalf("configKeys misses keys: %v %v", keys, tables)
	}
	known := func(k string) bool { return keys[k] || tables[k] }
	// The test can fail: the two keys the unit comments used to name.
	if got := keyMentions("set webhook.token_file in config.toml; see control.write_group, daemon.control_group, www.example.org", tables); !slices.Equal(got, []string{"webhook.token_file", "control.write_group", "daemon.control_group"}) {
		t.Errorf("keyMentions = %q", got)
	}
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil || bytes.IndexByte(b, 0) >= 0 {
			return err
		}
		text := strings.ReplaceAll(string(b), `\-`, "-")
		for _, k := range keyMentions(text, tables) {
			n++
			if !known(k) {
				t.Errorf("%s names %q, which is not a configuration key (see internal/config)", path, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("only %d key mentions found in packaging/", n)
	}

	// The default config: every key, commented out or not, in its table.
	f, err := os.Open("config/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tableRE := regexp.MustCompile(`^#?\s*\[\[?([a-z0-9_.]+)\]\]?\s*(#.*)?$`)
	keyRE := regexp.MustCompile(`^#?\s*([a-z0-9_]+)\s*=`)
	sc := bufio.NewScanner(f)
	table, seen := "", 0
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if m := tableRE.FindStringSubmatch(l); m != nil {
			table = m[1]
			if !tables[table] {
				t.Errorf("config/config.toml:%d: [%s] is not a table of the configuration", line, table)
			}
			continue
		}
		if m := keyRE.FindStringSubmatch(l); m != nil {
			seen++
			if k := table + "." + m[1]; table == "" || !keys[k] {
				t.Errorf("config/config.toml:%d: %q is not a configuration key", line, k)
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d keys seen in config/config.toml", seen)
	}

	// release-agent(8), CONFIGURATION: the keys listed under each table.
	page, err := os.ReadFile("man/release-agent.8")
	if err != nil {
		t.Fatal(err)
	}
	sec := manSection(string(page), "CONFIGURATION")
	bareRE := regexp.MustCompile(`^\.BR? ([a-z0-9_]+)(?: .*)?$`)
	headRE := regexp.MustCompile(`^\.B \[\[?([a-z0-9_.]+)\]\]?$`)
	table, seen = "", 0
	for _, l := range strings.Split(sec, "\n") {
		if m := headRE.FindStringSubmatch(l); m != nil {
			table = m[1]
			if !tables[table] {
				t.Errorf("release-agent.8: [%s] is not a table of the configuration", table)
			}
			continue
		}
		if m := bareRE.FindStringSubmatch(l); m != nil && table != "" {
			seen++
			if !keys[table+"."+m[1]] {
				t.Errorf("release-agent.8 lists %q under [%s]: no such key", m[1], table)
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d keys seen in release-agent.8 CONFIGURATION", seen)
	}
}

// manSection returns the source of section name (.SH name) of a man page.
func manSection(page, name string) string {
	_, rest, ok := strings.Cut(page, "\n.SH "+name+"\n")
	if !ok {
		return ""
	}
	sec, _, _ := strings.Cut(rest, "\n.SH ")
	return sec
}

// TestManVerbs: releasectl(1) describes every verb `releasectl --help`
// lists and no other, each tag on one line reading as the help's usage
// ("rollback [--to vN]", not a tag cut after "[--to").
func TestManVerbs(t *testing.T) {
	_, ctl := testenv.Binaries(t)
	out, err := exec.Command(ctl, "--help").Output()
	if err != nil {
		t.Fatalf("releasectl --help: %v", err)
	}
	_, verbsText, ok := strings.Cut(string(out), "\nVerbs:\n")
	if !ok {
		t.Fatalf("no Verbs: in releasectl --help:\n%s", out)
	}
	verbsText, _, _ = strings.Cut(verbsText, "\n\n")
	usage := map[string]string{} // verb → usage column of the help
	var helpVerbs []string
	for _, l := range strings.Split(verbsText, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		u, _, found := strings.Cut(l, "  ")
		if !found {
			u = strings.Fields(l)[0]
		}
		verb := strings.Fields(u)[0]
		usage[verb] = u
		helpVerbs = append(helpVerbs, verb)
	}
	if len(helpVerbs) < 10 {
		t.Fatalf("only %d verbs in releasectl --help", len(helpVerbs))
	}
	page, err := os.ReadFile("man/releasectl.1")
	if err != nil {
		t.Fatal(err)
	}
	plain := strings.NewReplacer(`\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\-`, "-")
	lines := strings.Split(manSection(string(page), "VERBS"), "\n")
	var manVerbs []string
	for i, l := range lines {
		if l != ".TP" || i+1 >= len(lines) {
			continue
		}
		tag := plain.Replace(lines[i+1])
		if strings.HasPrefix(tag, ".") {
			t.Errorf("releasectl.1: tag %q is a macro line; write the whole tag as one text line with \\fB...\\fR fonts", lines[i+1])
			continue
		}
		verb := strings.Fields(tag)[0]
		manVerbs = append(manVerbs, verb)
		if u, ok := usage[verb]; ok && !strings.HasPrefix(tag, u) {
			t.Errorf("releasectl.1: tag %q does not read as the help's %q", tag, u)
		}
	}
	for _, v := range helpVerbs {
		if !slices.Contains(manVerbs, v) {
			t.Errorf("releasectl --help lists %q; releasectl.1 does not describe it", v)
		}
	}
	for _, v := range manVerbs {
		if _, ok := usage[v]; !ok {
			t.Errorf("releasectl.1 describes %q; releasectl --help does not list it", v)
		}
	}
}

// TestManLint renders both pages with man --warnings: no warnings.
func TestManLint(t *testing.T) {
	man := need(t, "man")
	for _, p := range []string{"man/releasectl.1", "man/release-agent.8"} {
		cmd := exec.Command(man, "--warnings", "-l", "-Tutf8", p)
		cmd.Env = append(os.Environ(), "MANWIDTH=80")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 || len(out) < 1000 {
			t.Errorf("man --warnings %s: %v (%d bytes)\n%s", p, err, len(out), stderr.String())
		}
	}
	// The lint can fail: an unknown request is a warning.
	bad := filepath.Join(t.TempDir(), "bad.1")
	if err := os.WriteFile(bad, []byte(".TH BAD 1\n.SH NAME\nbad\n.XYZZY\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(man, "--warnings", "-l", "-Tutf8", bad)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	if stderr.Len() == 0 {
		t.Error("man --warnings did not report an unknown request")
	}
}

// TestShippedPaths: every installed path the packaging files name under
// /usr/share/release-agent or /usr/share/doc/release-agent is installed
// by nfpm.yaml, and every packaging/web/ snippet is shipped.
func TestShippedPaths(t *testing.T) {
	nfpm, err := os.ReadFile("nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, m := range regexp.MustCompile(`(?m)^\s+dst: (\S+)$`).FindAllStringSubmatch(string(nfpm), -1) {
		dsts = append(dsts, m[1])
	}
	srcs := regexp.MustCompile(`(?m)^\s+- src: (\S+)$`).FindAllStringSubmatch(string(nfpm), -1)
	webs, _ := filepath.Glob("web/*")
	for _, w := range webs {
		if strings.HasSuffix(w, ".go") {
			continue
		}
		if !slices.ContainsFunc(srcs, func(m []string) bool { return m[1] == "packaging/"+w }) {
			t.Errorf("nfpm.yaml does not ship packaging/%s", w)
		}
	}
	pathRE := regexp.MustCompile(`/usr/share/(?:doc/)?release-agent/[A-Za-z0-9_./\\-]*`)
	files := []string{"../README.md"}
	filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".go") && path != "nfpm.yaml" {
			files = append(files, path)
		}
		return nil
	})
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pathRE.FindAllString(string(b), -1) {
			p = strings.TrimRight(strings.ReplaceAll(p, `\-`, "-"), ".,;)")
			n++
			ok := slices.ContainsFunc(dsts, func(d string) bool {
				return d == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(d, p)) || strings.HasPrefix(d, p+"/")
			})
			if !ok {
				t.Errorf("%s names %s, which the package does not install", f, p)
			}
		}
	}
	if n < 3 {
		t.Errorf("only %d installed paths named", n)
	}
}

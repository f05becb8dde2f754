package config

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFull(t *testing.T) {
	p := write(t, `
[daemon]
control_socket = "/tmp/x/control.sock"
control_socket_mode = "0666"
control_group = "ops"
webhook_listen = "127.0.0.1:9488"
webhook_token_file = "/etc/token"
metrics_listen = "127.0.0.1:9489"

[[site]]
name = "www"
root = "/srv/www/www"
source = "s3://b/www/"
keep = 3
  [site.triggers]
  inbox = "/var/lib/ra/inbox/www"
  webhook = true
  s3_listen = true
  poll = "5m"
  [site.hash]
  enabled = false
  include = ["**/*.css"]
  [site.validate]
  policy = "all"
  max_total_bytes = "10MiB"
  max_file_bytes = 1000
  max_growth_percent = 25.5
  fragments = false
  [site.health]
  urls = ["http://127.0.0.1/"]
  expect_body = "ok"
  timeout = "2s"

[[site]]
name = "docs"
root = "/srv/www/docs"
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != p || c.Daemon.ControlSocketMode != 0o666 || c.Daemon.ControlGroup != "ops" {
		t.Errorf("daemon = %+v", c.Daemon)
	}
	if len(c.Sites) != 2 {
		t.Fatalf("sites = %d", len(c.Sites))
	}
	w := c.Site("www")
	if w.Keep != 3 || w.Hash.Enabled || w.Validate.Policy != "all" || w.Validate.MaxTotalBytes != 10<<20 ||
		w.Validate.MaxFileBytes != 1000 || w.Validate.Fragments || w.Triggers.Poll.D() != 5*time.Minute {
		t.Errorf("www = %+v", w)
	}
	if w.Health == nil || w.Health.ExpectStatus != 200 || w.Health.Timeout.D() != 2*time.Second {
		t.Errorf("www health = %+v", w.Health)
	}
	d := c.Site("docs")
	// Defaults apply per site, not per key of the first site.
	if d.Keep != 0 || !d.Hash.Enabled || d.Validate.Policy != "new" || d.Validate.ShrinkPercent != 50 || len(d.Validate.Required) != 1 || !d.Validate.Fragments || d.Health != nil {
		t.Errorf("docs = %+v", d)
	}
	if c.Site("nope") != nil {
		t.Error("Site(nope) != nil")
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("x.toml", []byte("[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Daemon.ControlSocket != "" || c.Daemon.ControlSocketMode != 0o660 || c.Daemon.ControlGroup != DefaultControlGroup {
		t.Errorf("daemon = %+v", c.Daemon)
	}
}

// TestPackagedDefault loads the default config shipped in the package.
func TestPackagedDefault(t *testing.T) {
	c, err := Load("../../packaging/config/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sites) != 1 || c.Sites[0].Triggers.Inbox == "" {
		t.Errorf("sites = %+v", c.Sites)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string // substrings of the joined error, e.g. "x.toml:4: key \"site[0].kepp\""
		sentinel   error
	}{
		{"unknown key", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\nkepp = 3\n",
			[]string{`x.toml:4: key "site[0].kepp": unknown key`}, ErrUnknownKey},
		{"unknown key second site", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[[site]]\nname = \"b\"\nroot = \"/srv/b\"\n[site.health]\nurls = [\"http://x/\"]\nbogus = 1\n",
			[]string{`x.toml:9: key "site[1].health.bogus": unknown key`}, ErrUnknownKey},
		{"unknown table", "[deamon]\ncontrol_socket = \"/a\"\n[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n",
			[]string{`x.toml:2: key "deamon.control_socket": unknown key`}, ErrUnknownKey},
		{"bad keep", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[[site]]\nname = \"b\"\nroot = \"/srv/b\"\nkeep = 0\n",
			[]string{`x.toml:7: key "site[1].keep": invalid value: 0: must be at least 1`}, ErrInvalid},
		{"bad duration", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\nsource = \"/x\"\n[site.triggers]\npoll = \"often\"\n",
			[]string{`x.toml:6`, `"often" is not a duration`}, ErrInvalid},
		{"wrong type", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\nkeep = \"five\"\n",
			[]string{`x.toml:4`, `site`}, ErrInvalid},
		{"syntax", "[[site]]\nname = \"a\nroot = \"/srv/a\"\n",
			[]string{`x.toml:2`}, ErrSyntax},
		{"missing root", "[[site]]\nname = \"a\"\n",
			[]string{`x.toml:1: key "site[0].root": missing required key`}, ErrMissing},
		{"no sites", "[daemon]\n", []string{`no [[site]]`}, ErrMissing},
		{"duplicate name", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[[site]]\nname = \"a\"\nroot = \"/srv/b\"\n",
			[]string{`x.toml:5: key "site[1].name"`, `also the name of site[0]`}, ErrInvalid},
		{"relative root", "[[site]]\nname = \"a\"\nroot = \"srv/a\"\n",
			[]string{`x.toml:3: key "site[0].root"`}, ErrInvalid},
		{"inbox inside root", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.triggers]\ninbox = \"/srv/a/in\"\n",
			[]string{`x.toml:5: key "site[0].triggers.inbox"`, "would be served"}, ErrInvalid},
		{"webhook without token", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\nsource = \"/x.tar\"\n[site.triggers]\nwebhook = true\n",
			[]string{`key "daemon.webhook_token_file": missing`}, ErrMissing},
		{"poll without source", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.triggers]\npoll = \"1m\"\n",
			[]string{`x.toml:5: key "site[0].triggers.poll"`, "needs the site's source"}, ErrInvalid},
		{"bad glob", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.hash]\ninclude = [\"[\"]\n",
			[]string{`key "site[0].hash.include[0]"`}, ErrInvalid},
		{"bad policy", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.validate]\npolicy = \"maybe\"\n",
			[]string{`x.toml:5: key "site[0].validate.policy"`}, ErrInvalid},
		{"bad size", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.validate]\nmax_file_bytes = \"lots\"\n",
			[]string{`x.toml:5`, `not a size`}, ErrInvalid},
		{"bad url", "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.health]\nurls = [\"ftp://x/\"]\n",
			[]string{`x.toml:5: key "site[0].health.urls[0]"`}, ErrInvalid},
		{"bad listen", "[daemon]\nmetrics_listen = \"9489\"\n[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n",
			[]string{`x.toml:2: key "daemon.metrics_listen"`}, ErrInvalid},
		{"bad mode", "[daemon]\ncontrol_socket_mode = \"rw\"\n[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n",
			[]string{`x.toml:2`, `octal`}, ErrInvalid},
		{"two problems", "[[site]]\nname = \"A\"\nroot = \"/srv/a\"\nkeep = -1\n",
			[]string{`x.toml:2: key "site[0].name"`, `x.toml:4: key "site[0].keep"`}, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.body))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %q is not %v", err, tc.sentinel)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "x.toml" {
				t.Errorf("error %#v is not a *config.Error naming the file", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("err = %v", err)
	}
}

// FuzzParse checks that Parse never panics and that every error it
// returns names the file.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n",
		"[daemon]\ncontrol_socket = \"/x\"\n[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.health]\nurls = [\"http://x/\"]\n",
		"a.\"b.c\".d = '''\nx\n'''\n[[site]]\n",
		"[[site.x]]\n[site]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.toml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml") {
				t.Fatalf("error does not start with the file name: %q", err)
			}
			return
		}
		if len(c.Sites) == 0 {
			t.Fatal("config without sites accepted")
		}
	})
}

// TestRefusedRoots: configurations that would let a store take a system
// directory or another store's directories.
func TestRefusedRoots(t *testing.T) {
	site := func(name, root string) string {
		return "[[site]]\nname = \"" + name + "\"\nroot = \"" + root + "\"\n"
	}
	cases := []struct {
		name, body string
		want       []string
	}{
		{"slash", site("a", "/"), []string{`x.toml:3: key "site[0].root"`, `"/" is a system directory`}},
		{"etc", site("a", "/etc"), []string{`x.toml:3: key "site[0].root"`, `"/etc" is a system directory`}},
		{"var", site("a", "/var"), []string{`"/var" is a system directory`}},
		{"usr", site("a", "/usr"), []string{`"/usr" is a system directory`}},
		{"lib64", site("a", "/lib64"), []string{`"/lib64" is a system directory`}},
		{"home", site("a", "/home"), []string{`"/home" is a system directory`}},
		{"tmp", site("a", "/tmp"), []string{`"/tmp" is a system directory`}},
		{"proc", site("a", "/proc"), []string{`"/proc" is a system directory`}},
		{"same root", site("a", "/srv/www") + site("b", "/srv/www"),
			[]string{`x.toml:6: key "site[1].root"`, `"/srv/www" is also the root of site[0] ("/srv/www")`}},
		{"inside another root", site("a", "/srv/www") + site("b", "/srv/www/b"),
			[]string{`x.toml:6: key "site[1].root"`, `"/srv/www/b" is inside the root of site[0] ("/srv/www")`}},
		{"above another root", site("a", "/srv/www/a") + site("b", "/srv/www"),
			[]string{`x.toml:6: key "site[1].root"`, `"/srv/www" contains the root of site[0] ("/srv/www/a")`}},
		{"inside a state directory", site("a", "/srv/www/a") + site("b", "/srv/www/a/state/b"),
			[]string{`x.toml:6: key "site[1].root"`, `is inside the state directory of the store of site[0]`}},
		{"inside a releases directory", site("a", "/srv/www/a") + site("b", "/srv/www/a/releases/v3"),
			[]string{`x.toml:6: key "site[1].root"`, `is inside the releases directory of the store of site[0]`}},
		{"inbox in another root", site("a", "/srv/www/a") + site("b", "/srv/www/b") + "[site.triggers]\ninbox = \"/srv/www/a/in\"\n",
			[]string{`x.toml:8: key "site[1].triggers.inbox"`, `inside the root of site[0]`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q is not ErrInvalid", err)
			}
		})
	}
	// Children of system directories, and siblings with a common prefix,
	// are fine.
	for _, body := range []string{
		site("a", "/srv/www") + site("b", "/srv/www2"),
		site("a", "/var/www/site") + site("b", "/home/www/b") + site("c", "/srv/libsite"),
		site("a", "/srv/a") + "[site.triggers]\ninbox = \"/srv/inbox/a\"\n" + site("b", "/srv/b"),
	} {
		if _, err := Parse("x.toml", []byte(body)); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func TestControlGroupOnHost(t *testing.T) {
	const missing = "ra-no-such-group-8d1c"
	body := "[daemon]\ncontrol_group = \"" + missing + "\"\n[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n"
	if _, err := Parse("x.toml", []byte(body)); err != nil {
		t.Errorf("Parse does not look at the host, but: %v", err)
	}
	_, err := ParseHost("x.toml", []byte(body))
	want := `x.toml:2: key "daemon.control_group": invalid value: group "` + missing + `" does not exist on this host`
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseHost: %v\nwant %q", err, want)
	}
	// The default group may be missing; "" (only root and the daemon's
	// user) needs no group.
	for _, b := range []string{"[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n", "[daemon]\ncontrol_group = \"\"\n[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n"} {
		if _, err := ParseHost("x.toml", []byte(b)); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Skipf("no name for this process's group: %v", err)
	}
	ok := "[daemon]\ncontrol_group = \"" + g.Name + "\"\n[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n"
	if _, err := ParseHost("x.toml", []byte(ok)); err != nil {
		t.Errorf("existing group %q: %v", g.Name, err)
	}
}

// TestAllProblemsListed: one file with many problems, type errors among
// them, lists every one.
func TestAllProblemsListed(t *testing.T) {
	body := `[daemon]
control_group = "ra-no-such-group-8d1c"
metrics_listen = "9489"

[[site]]
name = "www"
root = "/"
keep = "five"
  [site.triggers]
  poll = "often"

[[site]]
name = "docs"
root = "/srv/www"
kepp = 3
  [site.health]
  urls = [
    1,
    2,
  ]
  timeout = "2s"

[[site]]
name = "blog"
root = "/srv/www/blog"
  [site.validate]
  max_file_bytes = "lots"
  policy = "maybe"
`
	_, err := ParseHost("x.toml", []byte(body))
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`x.toml:2: key "daemon.control_group": invalid value: group "ra-no-such-group-8d1c" does not exist`,
		`x.toml:3: key "daemon.metrics_listen": invalid value`,
		`x.toml:7: key "site[0].root": invalid value: "/" is a system directory`,
		`x.toml:8: key "site[0].keep": invalid value`,
		`x.toml:10: key "site[0].triggers.poll": invalid value: "often" is not a duration`,
		`x.toml:15: key "site[1].kepp": unknown key`,
		`x.toml:17: key "site[1].health.urls": invalid value`,
		`x.toml:25: key "site[2].root": invalid value: "/srv/www/blog" is inside the root of site[1] ("/srv/www")`,
		`x.toml:27: key "site[2].validate.max_file_bytes": invalid value`,
		`x.toml:28: key "site[2].validate.policy": invalid value`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(lines), len(want), err)
	}
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
			t.Errorf("no problem %q in:\n%s", w, err)
		}
	}
	// The undecodable values are not reported a second time as missing.
	if strings.Contains(err.Error(), "missing") {
		t.Errorf("a left-out value reported as missing:\n%s", err)
	}
	// A syntax error still stops at once.
	_, err = Parse("x.toml", []byte("[[site]]\nname = \"a\nroot = 5\n"))
	if !errors.Is(err, ErrSyntax) || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("syntax error: %v", err)
	}
}

package config

import (
	"errors"
	"os"
	"path/filepath"
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

package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHealthDefaultsAndChecks(t *testing.T) {
	c, err := Parse("c.toml", []byte(`
[[site]]
name = "www"
root = "/srv/www"
[site.health]
urls = ["http://127.0.0.1/"]
expect_body_regexp = "<title>[^<]+"
  [[site.health.check]]
  url = "http://127.0.0.1/api/health"
  expect_body = "ok"
`))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Sites[0].Health
	if h.Interval.D() != 500*time.Millisecond || h.Failures != 3 || h.Successes != 1 || h.Grace.D() != 5*time.Second {
		t.Errorf("defaults: %+v", h)
	}
	if len(h.Checks) != 1 || h.Checks[0].ExpectStatus != 200 || h.Checks[0].ExpectBody != "ok" {
		t.Errorf("checks: %+v", h.Checks)
	}
	// Only checks, no urls: fine.
	if _, err := Parse("c.toml", []byte("[[site]]\nname = \"www\"\nroot = \"/srv/www\"\n[site.health]\n[[site.health.check]]\nurl = \"http://127.0.0.1/\"\n")); err != nil {
		t.Errorf("checks only: %v", err)
	}
}

func TestHealthErrors(t *testing.T) {
	_, err := Parse("c.toml", []byte(`
[[site]]
name = "www"
root = "/srv/www"
[site.health]
urls = ["http://127.0.0.1/"]
interval = "2s"
grace = "1s"
failures = 0
successes = 0
expect_body_regexp = "(("
  [[site.health.check]]
  expect_status = 99
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`c.toml:8: key "site[0].health.grace": invalid value: 1s: must be at least health.interval (2s)`,
		`c.toml:9: key "site[0].health.failures": invalid value: 0: must be at least 1`,
		`key "site[0].health.successes"`,
		`key "site[0].health.expect_body_regexp": invalid value: "((" is not a regular expression`,
		`key "site[0].health.check[0].url": missing required key`,
		`key "site[0].health.check[0].expect_status": invalid value: 99 is not an HTTP status`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("not ErrInvalid: %v", err)
	}
}

func TestNotifyEntries(t *testing.T) {
	dir := t.TempDir()
	tok := dir + "/tok"
	os.WriteFile(tok, []byte("abc\n"), 0o600)
	site := "[[site]]\nname = \"www\"\nroot = \"/srv/www\"\n"
	c, err := ParseHost("c.toml", []byte(site+"[[notify]]\nurl = \"https://hooks.example.net/x\"\ntoken_file = \""+tok+"\"\nevents = [\"rollback\", \"failed\"]\n[[notify]]\nurl = \"http://127.0.0.1:9/\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notify) != 2 || c.Notify[0].TokenFile != tok || len(c.Notify[0].Events) != 2 || c.Notify[1].Events != nil {
		t.Errorf("%+v", c.Notify)
	}
	_, err = ParseHost("c.toml", []byte(site+`[[notify]]
url = "ftp://x/"
events = ["deploy", "deployed"]
token_file = "`+dir+`/missing"
[[notify]]
token_file = "relative"
`))
	for _, want := range []string{
		`c.toml:5: key "notify[0].url": invalid value: "ftp://x/" is not an http:// or https:// URL`,
		`c.toml:6: key "notify[0].events[1]": invalid value: "deployed" is not an event; use any of deploy, activate, rollback, rejected, failed`,
		`c.toml:7: key "notify[0].token_file": invalid value: bearer token file: open ` + dir + `/missing: no such file or directory`,
		`key "notify[1].url": missing required key`,
		`c.toml:9: key "notify[1].token_file": invalid value: "relative" is not an absolute path`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

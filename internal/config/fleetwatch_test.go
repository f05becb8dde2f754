package config

import (
	"strings"
	"testing"
	"time"
)

func TestFleetAndWatchDefaults(t *testing.T) {
	c, err := Parse("c.toml", []byte(`
[[site]]
name = "www"
root = "/srv/www"
keep_for = "15m"
[site.fleet]
url = "s3://ops/fleet/www/"
[[site]]
name = "blog"
root = "/srv/blog"
[site.watch]
log = "/var/log/nginx/release-agent/www.log"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sites[0]
	if s.KeepFor.D() != 15*time.Minute {
		t.Errorf("keep_for = %s", s.KeepFor.D())
	}
	f := s.Fleet
	if f.Host == "" || !f.S3Listen || f.Poll.D() != DefaultFleetPoll || f.Heartbeat.D() != DefaultFleetHeartbeat {
		t.Errorf("fleet defaults: %+v", f)
	}
	w := c.Sites[1].Watch
	if w.Format != "nginx" || w.Window.D() != 5*time.Minute || w.MaxErrorRate != 2 || w.MinRequests != 100 || w.Canary != "off" || w.CanaryPercent != 10 {
		t.Errorf("watch defaults: %+v", w)
	}
	if c.Sites[0].Health != nil {
		t.Error("no [site.health], yet Health is set")
	}
}

func TestFleetAndWatchErrors(t *testing.T) {
	_, err := Parse("c.toml", []byte(`
[[site]]
name = "www"
root = "/srv/www"
source = "s3://builds/www.tar.gz"
[site.triggers]
poll = "1m"
[site.fleet]
url = "s3://ops/fleet/www"
host = "web 1"
poll = "100ms"
[site.watch]
log = "access.log"
format = "apache"
max_error_rate = 150
min_requests = 0
canary = "yes"
canary_percent = 100
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`c.toml:5: key "site[0].source": invalid value: "s3://builds/www.tar.gz": a fleet site deploys what the fleet's desired.json names; remove source`,
		`c.toml:7: key "site[0].triggers.poll": invalid value: a fleet site follows desired.json`,
		`c.toml:9: key "site[0].fleet.url": invalid value: "s3://ops/fleet/www" is not an S3 prefix`,
		`c.toml:10: key "site[0].fleet.host": invalid value: "web 1"`,
		`c.toml:11: key "site[0].fleet.poll": invalid value: 100ms: poll at most once a second`,
		`c.toml:13: key "site[0].watch.log": invalid value: "access.log" is not an absolute path`,
		`c.toml:14: key "site[0].watch.format": invalid value: "apache"`,
		`c.toml:15: key "site[0].watch.max_error_rate"`,
		`c.toml:16: key "site[0].watch.min_requests"`,
		`key "site[0].watch": invalid value: a fleet member does not watch on its own`,
		`c.toml:17: key "site[0].watch.canary": invalid value: "yes"`,
		`c.toml:18: key "site[0].watch.canary_percent": invalid value: 100: between 1 and 99`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = Parse("c.toml", []byte("[[site]]\nname = \"www\"\nroot = \"/srv/www\"\n[site.fleet]\n[site.watch]\n"))
	for _, want := range []string{`key "site[0].fleet.url": missing required key`, `key "site[0].watch.log": missing required key`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}

	_, err = Parse("c.toml", []byte("[[site]]\nname = \"www\"\nroot = \"/srv/www\"\n[site.watch]\nlog = \"/var/log/x.log\"\nformat = \"caddy\"\ncanary = \"auto\"\n"))
	if want := `c.toml:7: key "site[0].watch.canary": invalid value: "auto" needs format "nginx"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("caddy with canary auto: %v", err)
	}
}

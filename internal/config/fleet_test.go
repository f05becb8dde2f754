package config

import (
	"strings"
	"testing"
)

func TestFleetDefaults(t *testing.T) {
	c, err := Parse("c.toml", []byte(`
[[site]]
name = "www"
root = "/srv/www"
[site.fleet]
url = "s3://ops/fleet/www/"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sites[0]
	f := s.Fleet
	if f.Host == "" || !f.S3Listen || f.Poll.D() != DefaultFleetPoll || f.Heartbeat.D() != DefaultFleetHeartbeat {
		t.Errorf("fleet defaults: %+v", f)
	}
	if c.Sites[0].Health != nil {
		t.Error("no [site.health], yet Health is set")
	}
}

func TestFleetErrors(t *testing.T) {
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
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = Parse("c.toml", []byte("[[site]]\nname = \"www\"\nroot = \"/srv/www\"\n[site.fleet]\n"))
	for _, want := range []string{`key "site[0].fleet.url": missing required key`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

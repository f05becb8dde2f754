package service

import (
	"testing"

	"github.com/example/release-agent/internal/config"
)

func TestSitesFromConfig(t *testing.T) {
	c, err := config.Parse("x.toml", []byte(`
[[site]]
name = "a"
root = "/srv/a"
keep = 3
[site.hash]
enabled = false
include = ["**/*.css"]
carry_over = -1
[site.validate]
policy = "all"
fragments = false
max_file_bytes = "1MiB"
max_growth_percent = 10
[[site]]
name = "b"
root = "/srv/b"
[site.validate]
policy = "off"
`))
	if err != nil {
		t.Fatal(err)
	}
	m := SitesFromConfig(c)
	a, b := m["a"], m["b"]
	if a == nil || b == nil || a.Root != "/srv/a" || a.Keep != 3 || !a.Policy.NoHash || a.Policy.NoVerify {
		t.Fatalf("a = %+v", a)
	}
	if a.Policy.Hash == nil || len(a.Policy.Hash.Include) != 1 || a.Policy.Hash.Exclude != nil || a.Policy.CarryOver != -1 {
		t.Errorf("a hash = %+v carry %d", a.Policy.Hash, a.Policy.CarryOver)
	}
	if b.Policy.Hash != nil {
		t.Errorf("b hash = %+v, want the defaults (nil)", b.Policy.Hash)
	}
	o := a.Policy.Validate
	if o.DefaultPolicy != "all" || o.Policy["fragment"] != "off" || len(o.Budgets) != 2 || o.Budgets[0].MaxBytes != 1<<20 || o.Budgets[1].MaxGrowth != 0.1 {
		t.Errorf("a validate = %+v", o)
	}
	if !b.Policy.NoVerify || b.Policy.NoHash || b.Keep != 0 {
		t.Errorf("b = %+v %+v", b, b.Policy)
	}
}

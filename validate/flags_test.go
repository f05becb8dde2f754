package validate

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestParseBudget(t *testing.T) {
	b, err := ParseBudget("assets/**/*.js:max=200KiB,gzip=60k,growth=10%,growth-bytes=1MB,per-file")
	if err != nil {
		t.Fatal(err)
	}
	want := Budget{Glob: "assets/**/*.js", MaxBytes: 200 << 10, MaxGzip: 60 << 10, MaxGrowth: 0.1, MaxGrowthBytes: 1 << 20, PerFile: true}
	if b != want {
		t.Errorf("got %+v, want %+v", b, want)
	}
	if b, err := ParseBudget("a:b/*.css:growth=0.25"); err != nil || b.Glob != "a:b/*.css" || b.MaxGrowth != 0.25 {
		t.Errorf("glob with a colon: %+v %v", b, err)
	}
	for _, bad := range []string{"*.js", "*.js:max=lots", "*.js:size=1", "[x:max=1", "*.js:growth=-5%", ":max=1"} {
		if _, err := ParseBudget(bad); err == nil {
			t.Errorf("ParseBudget(%q): no error", bad)
		} else if !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseBudget(%q): error %q does not name the budget", bad, err)
		}
	}
	if _, err := ParseBudget("*.js:max=x"); !errors.Is(err, ErrBadBudget) {
		t.Errorf("error %v is not ErrBadBudget", err)
	}
}

func TestFlags(t *testing.T) {
	o := DefaultOptions()
	fs := pflag.NewFlagSet("validate", pflag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{"--pretty-urls", "--base-path=/docs/", "--policy=all", "--policy=fragment=off,link=new",
		"--budget=*.css:max=1MiB", "--max-total=2G", "--ignore-urls=/legacy/**", "--required=404.html", "--shrink-limit=0.3"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.PrettyURLs || o.BasePath != "/docs/" || o.DefaultPolicy != PolicyAll || o.Policy[KindFragment] != PolicyOff ||
		o.Policy[KindLink] != PolicyNew || len(o.Budgets) != 1 || o.Budgets[0].MaxBytes != 1<<20 || o.MaxTotalBytes != 2<<30 ||
		o.IgnoreURLs[0] != "/legacy/**" || len(o.Required) != 1 || o.ShrinkLimit != 0.3 {
		t.Errorf("options after flags: %+v", o)
	}
	for _, bad := range []string{"--policy=sometimes", "--policy=links=all", "--budget=nope", "--max-total=big"} {
		o := DefaultOptions()
		fs := pflag.NewFlagSet("validate", pflag.ContinueOnError)
		fs.SetOutput(&strings.Builder{})
		o.AddFlags(fs)
		if err := fs.Parse([]string{bad}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func FuzzParseBudget(f *testing.F) {
	for _, s := range []string{"assets/**/*.js:max=200KiB,gzip=60k,growth=10%,per-file", "a:b:growth=0.1", "x:max=1e3", ":", "*.css:max=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBudget(s)
		if err != nil {
			return
		}
		if b.Glob == "" || b.MaxBytes < 0 || b.MaxGzip < 0 || b.MaxGrowth < 0 || b.MaxGrowthBytes < 0 {
			t.Errorf("ParseBudget(%q) = %+v", s, b)
		}
	})
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// leafErrors flattens the tree of errors.Join into its leaves.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// FuzzLoad loads any bytes as a configuration file: Load never panics;
// every problem it reports is an *Error naming the file and a line or a
// key; and a configuration it accepts has sane [site.retry] and budget
// values (the keys of issue 14).
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.retry]\nattempts = 3\nmax_wait = \"1m\"\ninitial = \"1s\"\nmax_delay = \"10s\"\n",
		"[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.validate]\nmax_file_bytes = \"1MiB\"\nmax_total_bytes = 1000\nmax_growth_percent = 20\nshrink_percent = 50\n",
		"[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.retry]\nattempts = 0\ninitial = \"0s\"\n",
		"[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.retry]\nmax_wait = 5\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			for _, e := range leafErrors(err) {
				var ce *Error
				if !errors.As(e, &ce) {
					t.Fatalf("problem %q is not a *config.Error", e)
				}
				if ce.File != path {
					t.Fatalf("problem %q names file %q, want %q", e, ce.File, path)
				}
				if ce.Line <= 0 && ce.Key == "" {
					t.Fatalf("problem %q names neither a line nor a key", e)
				}
			}
			return
		}
		for i, s := range c.Sites {
			r := s.Retry
			if r.Attempts < 1 || r.Initial <= 0 || r.MaxDelay < r.Initial || r.MaxWait < 0 {
				t.Fatalf("site[%d]: accepted retry %+v", i, r)
			}
			if s.Validate.MaxFileBytes < 0 || s.Validate.MaxTotalBytes < 0 || s.Validate.MaxGrowthPercent < 0 {
				t.Fatalf("site[%d]: accepted negative budgets %+v", i, s.Validate)
			}
		}
	})
}

// TestRetryKeys: [site.retry] defaults, and each bad value named by file,
// line and key.
func TestRetryKeys(t *testing.T) {
	site := "[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n"
	c, err := Parse("x.toml", []byte(site))
	if err != nil {
		t.Fatal(err)
	}
	want := Retry{Attempts: DefaultRetryAttempts, MaxWait: Duration(DefaultRetryMaxWait), Initial: Duration(DefaultRetryInitial), MaxDelay: Duration(DefaultRetryMaxDelay)}
	if c.Sites[0].Retry != want {
		t.Errorf("defaults = %+v, want %+v", c.Sites[0].Retry, want)
	}
	c, err = Parse("x.toml", []byte(site+"[site.retry]\nattempts = 2\nmax_wait = \"30s\"\ninitial = \"100ms\"\nmax_delay = \"1s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Sites[0].Retry; r.Attempts != 2 || r.MaxWait.D() != 30*time.Second || r.Initial.D() != 100*time.Millisecond || r.MaxDelay.D() != time.Second {
		t.Errorf("parsed %+v", r)
	}
	for _, tc := range []struct{ body, want string }{
		{"attempts = 0\n", `x.toml:5: key "site[0].retry.attempts"`},
		{"attempts = 5000\n", `x.toml:5: key "site[0].retry.attempts"`},
		{"initial = \"0s\"\n", `x.toml:5: key "site[0].retry.initial"`},
		{"initial = \"10s\"\nmax_delay = \"1s\"\n", `x.toml:6: key "site[0].retry.max_delay"`},
		{"max_wait = \"soon\"\n", `x.toml:5: key "site[0].retry.max_wait"`},
		{"attemps = 3\n", `x.toml:5: key "site[0].retry.attemps"`},
	} {
		_, err := Parse("x.toml", []byte(site+"[site.retry]\n"+tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %s", tc.body, err, tc.want)
		}
	}
}

package sshcmd

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
)

func TestParseAccepts(t *testing.T) {
	for in, want := range map[string][]string{
		"releasectl rollback":                {"rollback"},
		"rollback":                           {"rollback"},
		"/usr/bin/releasectl status":         {"status"},
		"  releasectl\t--json   list  ":      {"--json", "list"},
		"releasectl rollback --to v3":        {"rollback", "--to", "v3"},
		"releasectl --json rollback --to=v3": {"--json", "rollback", "--to=v3"},
		"releasectl diff v1 v2":              {"diff", "v1", "v2"},
		"releasectl history --limit 5":       {"history", "--limit", "5"},
		"releasectl --wait=30s rollback":     {"--wait=30s", "rollback"},
	} {
		got, err := Parse(in, nil)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for in, want := range map[string]error{
		"":                                      ErrEmpty,
		"releasectl":                            ErrEmpty,
		"releasectl --json":                     ErrEmpty,
		"releasectl deploy /tmp/x.tar":          ErrNotAllowed,
		"releasectl prune":                      ErrNotAllowed,
		"releasectl ssh-command":                ErrNotAllowed,
		"sh -c id":                              ErrNotAllowed,
		"releasectl rollback; rm -rf /":         ErrUnsafe,
		"releasectl rollback && id":             ErrUnsafe,
		"releasectl rollback | tee x":           ErrUnsafe,
		"releasectl rollback $(id)":             ErrUnsafe,
		"releasectl rollback `id`":              ErrUnsafe,
		"releasectl rollback > /etc/x":          ErrUnsafe,
		"releasectl 'rollback'":                 ErrUnsafe,
		"releasectl \"rollback\"":               ErrUnsafe,
		"releasectl rollback\nid":               ErrUnsafe,
		"releasectl rollback\x00":               ErrUnsafe,
		"releasectl rollback --to v*":           ErrUnsafe,
		"releasectl rollback ~root":             ErrUnsafe,
		"releasectl rollback \\":                ErrUnsafe,
		"releasectl --site other rollback":      ErrBoundFlag,
		"releasectl rollback --root=/srv/other": ErrBoundFlag,
		"releasectl --socket /tmp/s rollback":   ErrBoundFlag,
		"releasectl --config=/tmp/c status":     ErrBoundFlag,
	} {
		got, err := Parse(in, nil)
		if !errors.Is(err, want) || !errors.Is(err, api.ErrUsage) {
			t.Errorf("Parse(%q) = %q, %v; want %v (and a usage error)", in, got, err, want)
		}
	}
}

func TestParseAllowList(t *testing.T) {
	if _, err := Parse("releasectl deploy s3://b/k.tar.gz", []string{"deploy"}); err != nil {
		t.Errorf("deploy with deploy allowed: %v", err)
	}
	_, err := Parse("releasectl rollback", []string{"deploy"})
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "this key runs: deploy") {
		t.Errorf("rollback with only deploy allowed: %v", err)
	}
	if _, err := Parse("releasectl ssh-command", []string{"ssh-command"}); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("ssh-command is never allowed: %v", err)
	}
	got, err := ParseAllow("+deploy,activate")
	if err != nil || !slices.Contains(got, "rollback") || !slices.Contains(got, "deploy") || !slices.Contains(got, "activate") {
		t.Errorf("ParseAllow(+deploy,activate) = %q, %v", got, err)
	}
	got, err = ParseAllow("deploy")
	if err != nil || !slices.Equal(got, []string{"deploy"}) {
		t.Errorf("ParseAllow(deploy) = %q, %v", got, err)
	}
	for _, bad := range []string{"", ",", "ssh-command", "--json", "a;b", "a b"} {
		if _, err := ParseAllow(bad); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
}

// FuzzParse: whatever SSH_ORIGINAL_COMMAND holds, an accepted command has
// no metacharacter, no bound flag, and an allowed verb.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"releasectl rollback", "releasectl --json status", "rollback; id", "releasectl diff v1 v2", "releasectl --site x list", "a\tb\nc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := Parse(s, nil)
		if err != nil {
			return
		}
		verb := ""
		for _, a := range args {
			if strings.ContainsAny(a, Metacharacters) {
				t.Fatalf("accepted metacharacter in %q", a)
			}
			for _, b := range boundFlags {
				if a == b || strings.HasPrefix(a, b+"=") {
					t.Fatalf("accepted bound flag %q", a)
				}
			}
			if verb == "" && !strings.HasPrefix(a, "-") {
				verb = a
			}
		}
		if !slices.Contains(DefaultAllowed, verb) {
			t.Fatalf("accepted verb %q from %q", verb, s)
		}
	})
}

func TestStdinOnly(t *testing.T) {
	allowed := WithStdinVerbs(DefaultAllowed)
	if !slices.Contains(allowed, "deploy") || !slices.Contains(allowed, "stage") || slices.Contains(DefaultAllowed, "deploy") {
		t.Fatalf("WithStdinVerbs = %q (and DefaultAllowed %q)", allowed, DefaultAllowed)
	}
	for _, c := range []struct {
		allowed []string
		verb    string
		pos     []string
		ok      bool
	}{
		{DefaultAllowed, "deploy", []string{"-"}, true},
		{DefaultAllowed, "stage", []string{"-"}, true},
		{DefaultAllowed, "deploy", []string{"/srv/secret"}, false},
		{DefaultAllowed, "deploy", []string{"s3://b/k.tar.gz"}, false},
		{DefaultAllowed, "deploy", []string{"-", "-"}, false},
		{DefaultAllowed, "deploy", nil, false},
		{DefaultAllowed, "rollback", []string{"x"}, true},           // not a stdin verb: Parse decided
		{[]string{"deploy"}, "deploy", []string{"/srv/site"}, true}, // --allow deploy: any SOURCE
	} {
		err := CheckStdinOnly(c.allowed, c.verb, c.pos)
		if (err == nil) != c.ok || (err != nil && (!errors.Is(err, ErrNotAllowed) || !errors.Is(err, api.ErrUsage))) {
			t.Errorf("CheckStdinOnly(%q, %s, %q) = %v, want ok %v", c.allowed, c.verb, c.pos, err, c.ok)
		}
	}
}

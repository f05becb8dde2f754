package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/testutil/testenv"
	"github.com/example/release-agent/releases"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// TestDidYouMean: a mistyped verb or flag is a usage error that names
// what was probably meant, or the verbs that take the flag.
func TestDidYouMean(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deplyo", "x"}, `did you mean "deploy"?`},
		{[]string{"rolback"}, `did you mean "rollback"?`},
		{[]string{"lst"}, `did you mean "list"?`},
		{[]string{"hist"}, `did you mean "history"?`}, // a unique prefix
		{[]string{"list", "--alll"}, "did you mean --all?"},
		{[]string{"deploy", "x", "--sha265", "0"}, "did you mean --sha256?"},
		{[]string{"list", "--to", "v3"}, "--to is a flag of rollback"},
		{[]string{"--rooot", root, "list"}, "did you mean --root?"},
	} {
		code, _, e := run(t, nil, tc.args...)
		if code != api.ExitUsage || !strings.Contains(e, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, e, tc.want)
		}
	}
	// Nothing close: no guess.
	if code, _, e := run(t, nil, "frobnicate"); code != api.ExitUsage || strings.Contains(e, "did you mean") {
		t.Errorf("frobnicate: exit %d, %q; want a usage error without a guess", code, e)
	}
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Errorf("a usage error created %v", ents)
	}
}

// TestValuedFlags: splitVerb knows every flag that takes a value from the
// verb table itself, so a new flag's value is never taken for the verb.
func TestValuedFlags(t *testing.T) {
	m := valuedFlags()
	for _, f := range []string{"--root", "--site", "--wait", "--to", "--keep", "--sha256", "-n", "--limit"} {
		if !m[f] {
			t.Errorf("%s takes a value but is not in valuedFlags", f)
		}
	}
	for _, f := range []string{"--json", "--all", "--repair", "--no-hash", "--dry-run", "-h"} {
		if m[f] {
			t.Errorf("%s is a bool flag but is in valuedFlags", f)
		}
	}
	if v, rest := splitVerb([]string{"--keep", "3", "prune"}); v != "prune" || strings.Join(rest, " ") != "--keep 3" {
		t.Errorf("splitVerb(--keep 3 prune) = %q %q", v, rest)
	}
}

// TestNoStoreYet: list, status and history on a directory that holds no
// store say so and create nothing.
func TestNoStoreYet(t *testing.T) {
	root := t.TempDir()
	for _, verb := range []string{"list", "status"} {
		code, o, e := run(t, nil, "--root", root, verb)
		if code != 0 || !strings.Contains(o, "not a release store yet (nothing was created)") {
			t.Errorf("%s: exit %d, %q %q", verb, code, o, e)
		}
		code, o, _ = run(t, nil, "--root", root, "--json", verb)
		if code != 0 || !strings.Contains(o, `"no_store": true`) {
			t.Errorf("%s --json: exit %d, %q", verb, code, o)
		}
	}
	if code, _, e := run(t, nil, "--root", root, "history"); code != api.ExitFailed || !strings.Contains(e, "not a release store yet") {
		t.Errorf("history: exit %d, %q", code, e)
	}
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Errorf("reading verbs created %v in %s", ents, root)
	}
}

// TestRollbackSaysWhatExists: a rollback with nowhere to go names what
// the store holds and the command that would use it.
func TestRollbackSaysWhatExists(t *testing.T) {
	root, src := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>x</title>"), 0o644)
	if code, _, e := run(t, nil, "--root", root, "deploy", src); code != 0 {
		t.Fatalf("deploy: %d %s", code, e)
	}
	if code, _, e := run(t, nil, "--root", root, "rollback"); code != api.ExitFailed || !strings.Contains(e, "v1 is live and it is the only release with a tree") {
		t.Errorf("rollback with one release: exit %d, %q", code, e)
	}
	if code, _, e := run(t, nil, "--root", root, "stage", "--force", src); code != 0 {
		t.Fatalf("stage: %d %s", code, e)
	}
	if code, _, e := run(t, nil, "--root", root, "rollback"); code != api.ExitFailed || !strings.Contains(e, "v2 was never live (`releasectl activate v2` makes it live)") {
		t.Errorf("rollback with a staged release: exit %d, %q", code, e)
	}
}

// TestListShown: without --all, list folds the records without a tree
// that are older than every release on disk, and shows at most 20.
func TestListShown(t *testing.T) {
	var rels []api.Release
	add := func(id int, st releases.Status) {
		rels = append(rels, api.Release{Record: releases.Record{ID: releases.FormatID(int64(id)), Status: st}})
	}
	// newest first: v30..v26 live, v25 failed, v24..v3 live, v2 pruned, v1 rejected
	for id := 30; id >= 1; id-- {
		switch {
		case id == 25:
			add(id, releases.StatusFailed)
		case id == 2:
			add(id, releases.StatusPruned)
		case id == 1:
			add(id, releases.StatusRejected)
		default:
			add(id, releases.StatusStaged)
		}
	}
	shown, note := shownReleases(rels, false)
	if len(shown) != 20 || shown[0].ID != "v30" || shown[19].ID != "v11" {
		t.Errorf("shown %d releases, %s..%s; want v30..v11", len(shown), shown[0].ID, shown[len(shown)-1].ID)
	}
	if note != "(not shown: 8 older releases, 1 pruned, 1 rejected; --all lists every record)" {
		t.Errorf("note = %q", note)
	}
	if all, note := shownReleases(rels, true); len(all) != 30 || note != "" {
		t.Errorf("--all: %d shown, note %q", len(all), note)
	}
	// A pinned old release keeps itself and what is newer in view.
	rels[29].Pinned = true
	if shown, note := shownReleases(rels[20:], false); len(shown) != 10 || note != "" {
		t.Errorf("v10..v1 with v1 pinned: %d shown, note %q; want all 10 and no note", len(shown), note)
	}
}

// TestProgress: the fetch line shows the artifact's bytes and a
// percentage when its size is known; the line is cleared before anything
// else is printed.
func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		p    progress
		want string
	}{
		{progress{Stage: "fetch"}, "fetch..."},
		{progress{Stage: "fetch", Read: 512 << 10, Total: 2 << 20, Files: 3, Bytes: 4 << 20}, "fetch: 512.0 KiB of 2.0 MiB (25%), 3 files, 4.0 MiB written"},
		{progress{Stage: "fetch", Read: 3 << 20}, "fetch: 3.0 MiB read"},
		{progress{Stage: "hash"}, "hash..."},
	} {
		if got := progressLine(tc.p); got != tc.want {
			t.Errorf("progressLine(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
	var b bytes.Buffer
	draw, clear := newProgress(&b)
	clear()
	if b.Len() != 0 {
		t.Errorf("clear with nothing drawn wrote %q", b.String())
	}
	draw(progress{Stage: "fetch", Read: 1, Total: 4})
	clear()
	if got := b.String(); got != "\r\033[Kfetch: 1 B of 4 B (25%)\r\033[K" {
		t.Errorf("draw+clear wrote %q", got)
	}
}

// TestCompletion runs the generated scripts in real bash, zsh and fish:
// verbs, flags and release ids (read with releasectl list) complete.
func TestCompletion(t *testing.T) {
	_, ctl := testenv.Binaries(t)
	root, src := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "index.html"), []byte("<!doctype html><title>x</title>"), 0o644)
	for range 2 {
		if out, err := exec.Command(ctl, "--root", root, "deploy", "--force", src).CombinedOutput(); err != nil {
			t.Fatalf("deploy: %v %s", err, out)
		}
	}
	path := filepath.Dir(ctl) + ":" + os.Getenv("PATH")
	script := func(shell string) string {
		f := filepath.Join(t.TempDir(), "c."+shell)
		out, err := exec.Command(ctl, "completion", shell).Output()
		if err != nil {
			t.Fatalf("completion %s: %v", shell, err)
		}
		os.WriteFile(f, out, 0o644)
		return f
	}
	shell := func(name string, args ...string) []string {
		bin := testenv.Command(t, name)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PATH="+path, "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
		return strings.Fields(string(out))
	}
	bash := script("bash")
	bashC := func(words ...string) []string {
		return shell("bash", append([]string{"-c", `source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _releasectl; printf '%s\n' "${COMPREPLY[@]}"`, bash}, words...)...)
	}
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"releasectl", "roll"}, []string{"rollback"}},
		{[]string{"releasectl", "--root", root, "activate", ""}, []string{"v1", "v2"}},
		{[]string{"releasectl", "--root", root, "rollback", "--to", "v"}, []string{"v1", "v2"}},
		{[]string{"releasectl", "list", "--a"}, []string{"--all"}},
		{[]string{"releasectl", "completion", "f"}, []string{"fish"}},
	} {
		got := bashC(tc.words...)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("bash %q: %q, want %q", tc.words, got, tc.want)
		}
	}
	// zsh: the same function through bashcompinit; check it loads and
	// registers.
	zsh := script("zsh")
	if got := shell("zsh", "-f", "-c", `autoload -U compinit && compinit -u -d "$HOME/.zcompdump"; source "$0"; print -r -- ${_comps[releasectl]}`, zsh); !slices.Equal(got, []string{"_bash_complete"}) && !slices.Contains(got, "_bash_complete") {
		t.Errorf("zsh: releasectl completes with %q, want the bashcompinit wrapper", got)
	}
	fish := script("fish")
	if got := shell("fish", "--no-config", "-c", `source $argv[1]; complete -C "releasectl --root $argv[2] activate "`, fish, root); !slices.Contains(got, "v1") || !slices.Contains(got, "v2") {
		t.Errorf("fish: ids %q, want v1 and v2", got)
	}
	if got := shell("fish", "--no-config", "-c", `source $argv[1]; complete -C "releasectl rollb"`, fish); len(got) == 0 || got[0] != "rollback" {
		t.Errorf("fish: verbs %q, want rollback first", got)
	}
}

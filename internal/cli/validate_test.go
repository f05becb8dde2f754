package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/daemon/control"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/releases"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// writeSite writes files (slash path -> content) under dir.
func writeSite(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// noDaemon is a --socket nobody listens on: validate DIR then runs on
// its own.
func noDaemon(t *testing.T) []string {
	return []string{"--socket", filepath.Join(t.TempDir(), "none.sock")}
}

var (
	mainSite = map[string]string{
		"index.html": "<!doctype html><title>home</title>\n<a href=\"old.html\">old</a>\n<a href=\"about.html#team\">team</a>\n",
		"about.html": "<!doctype html><title>about</title><h2 id=\"team\">Team</h2>\n",
	}
	// branchSite keeps main's broken link (one line lower) and breaks
	// two more things.
	branchSite = map[string]string{
		"index.html": "<!doctype html><title>home</title>\n<p>news</p>\n<a href=\"old.html\">old</a>\n<a href=\"about.html#staff\">team</a>\n<img src=\"logo.png\">\n",
		"about.html": "<!doctype html><title>about</title><h2 id=\"team\">Team</h2>\n",
	}
	cleanSite = map[string]string{
		"index.html": "<!doctype html><title>home</title><a href=\"about.html#team\">team</a>\n",
		"about.html": "<!doctype html><title>about</title><h2 id=\"team\">Team</h2>\n",
	}
)

// TestValidateCI drives validate DIR as a CI job would: no root, no
// daemon, a baseline saved from main.
func TestValidateCI(t *testing.T) {
	t.Chdir(t.TempDir())
	writeSite(t, "clean", cleanSite)
	writeSite(t, "main", mainSite)
	writeSite(t, "public", branchSite)
	nd := noDaemon(t)
	args := func(a ...string) []string { return append(append([]string{}, nd...), a...) }

	if code, o, e := run(t, nil, args("validate", "clean")...); code != 0 || !strings.Contains(o, "validate: passed") {
		t.Fatalf("clean site: exit %d\n%s%s", code, o, e)
	}
	// Alone, main's old broken link blocks: no live release, no baseline.
	code, o, e := run(t, nil, args("validate", "main", "--json")...)
	if code != api.ExitRejected {
		t.Fatalf("main alone: exit %d, want 3\n%s%s", code, o, e)
	}
	var doc api.ValidateResult
	if err := json.Unmarshal([]byte(o), &doc); err != nil || !doc.Rejected || doc.Report == nil || doc.Report.Blocking != 1 {
		t.Fatalf("--json stdout of a rejected tree: %v %+v\n%s", err, doc, o)
	}
	var eobj api.Error
	if err := json.Unmarshal([]byte(e), &eobj); err != nil || eobj.Code != "rejected" || eobj.Exit != api.ExitRejected {
		t.Fatalf("--json stderr: %v %q", err, e)
	}
	if err := os.WriteFile("main-report.json", []byte(o), 0o644); err != nil {
		t.Fatal(err)
	}
	// Against its own report main passes; the branch's two new findings block.
	if code, o, e := run(t, nil, args("validate", "main", "--baseline", "main-report.json")...); code != 0 {
		t.Fatalf("main against its report: exit %d\n%s%s", code, o, e)
	}
	for _, format := range []string{"text", "json", "github"} {
		code, o, e := run(t, nil, args("validate", "public", "--baseline", "main-report.json", "--format", format)...)
		if code != api.ExitRejected {
			t.Errorf("%s: exit %d, want 3\n%s", format, code, e)
		}
		golden(t, "validate-"+format+".golden", []byte(o))
		if format == "github" {
			if n := strings.Count(o, "\n::error "); n != 2 || strings.Count(o, "\n::warning ") != 1 {
				t.Errorf("github: %d errors, want 2 and 1 warning:\n%s", n, o)
			}
		}
	}
	// A text report is bounded per kind unless --all.
	many := map[string]string{"index.html": "<!doctype html><title>x</title>\n"}
	for i := range 25 {
		many["index.html"] += "<img src=\"missing" + string(rune('a'+i)) + ".png\">\n"
	}
	writeSite(t, "many", many)
	_, o, _ = run(t, nil, args("validate", "many")...)
	if !strings.Contains(o, "... and 5 more asset findings (--all lists them)") || strings.Contains(o, "missingy.png") {
		t.Errorf("bounded text:\n%s", o)
	}
	_, o, _ = run(t, nil, args("validate", "many", "--all")...)
	if strings.Contains(o, "more asset findings") || !strings.Contains(o, "missingy.png") {
		t.Errorf("--all:\n%s", o)
	}

	// Bad input: a usage error naming the file or flag, exit 2.
	os.WriteFile("list.json", []byte(`{"schema":1,"releases":[]}`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args("validate", "public", "--baseline", "nope.json"), "nope.json"},
		{args("validate", "public", "--baseline", "list.json"), "list.json: not a validation report"},
		{args("validate", "public", "--format", "xml"), `--format "xml"`},
		{args("validate", "public", "--format", "github", "--json"), "--json and --format github"},
		{args("--root", "main", "validate", "public", "--baseline", "main-report.json"), "--baseline"},
	} {
		if code, o, e := run(t, nil, tc.args...); code != api.ExitUsage || !strings.Contains(e, tc.want) || o != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, o, e, tc.want)
		}
	}
	if code, _, e := run(t, nil, args("validate", "nowhere")...); code != api.ExitFailed || !strings.Contains(e, "nowhere") {
		t.Errorf("missing DIR: exit %d %q", code, e)
	}
}

// TestRejectedDeployJSON: a rejected deploy --json prints the report on
// stdout and the error object on stderr, and changes nothing.
func TestRejectedDeployJSON(t *testing.T) {
	root := t.TempDir()
	bad := writeSite(t, t.TempDir(), map[string]string{"about.html": "<p>no index</p>"})
	for _, verb := range []string{"deploy", "stage"} {
		code, o, e := run(t, nil, "--root", root, "--json", verb, bad)
		var doc api.ValidateResult
		if code != api.ExitRejected || json.Unmarshal([]byte(o), &doc) != nil || !doc.Rejected || doc.Report == nil || doc.Report.Counts["required"].Blocking != 1 {
			t.Errorf("%s: exit %d, stdout %q", verb, code, o)
		}
		var eobj api.Error
		if err := json.Unmarshal([]byte(e), &eobj); err != nil || eobj.Code != "rejected" {
			t.Errorf("%s: stderr %q (%v)", verb, e, err)
		}
	}
	if err := storecheck.Check(root, storecheck.Options{}); err != nil {
		t.Error(err)
	}
}

// TestDryRunAndAlreadyLive runs deploy --dry-run, a deploy of the live
// content and --force through both paths: on the store directly (--root)
// and through the daemon's control socket.
func TestDryRunAndAlreadyLive(t *testing.T) {
	for _, via := range []string{"root", "daemon"} {
		t.Run(via, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "www")
			os.MkdirAll(root, 0o755)
			target := []string{"--root", root}
			if via == "daemon" {
				target = []string{"--socket", serveControl(t, root), "--site", "www"}
			}
			ctl := func(a ...string) (int, string, string) {
				t.Helper()
				return run(t, nil, append(append([]string{}, target...), a...)...)
			}
			v1 := writeSite(t, t.TempDir(), cleanSite)
			if code, o, e := ctl("deploy", v1); code != 0 || strings.TrimSpace(o) != "v1" {
				t.Fatalf("deploy: %d %q %q", code, o, e)
			}
			next := writeSite(t, t.TempDir(), cleanSite)
			writeSite(t, next, map[string]string{"news.html": "<!doctype html><title>news</title>"})
			journal := func() string {
				b, _ := os.ReadFile(filepath.Join(root, releases.StateDir, "journal"))
				return string(b)
			}
			before := journal()

			code, o, e := ctl("deploy", next, "--dry-run")
			if code != 0 || !strings.Contains(o, "+ news.html (") || !strings.Contains(o, "dry run: 1 added, 0 removed, 0 changed") ||
				!strings.Contains(o, "validate: passed") {
				t.Fatalf("dry run: %d\n%s%s", code, o, e)
			}
			code, o, _ = ctl("--json", "deploy", next, "--dry-run")
			var dr api.DeployResult
			if code != 0 || json.Unmarshal([]byte(o), &dr) != nil || !dr.DryRun || len(dr.Changes) != 1 || dr.Release.ID != "" ||
				strings.Contains(o, `"release"`) {
				t.Fatalf("dry run --json: %d %s", code, o)
			}
			code, o, e = ctl("deploy", v1)
			if code != 0 || strings.TrimSpace(o) != "already live: v1 (nothing deployed; --force makes a new release anyway)" {
				t.Fatalf("same content: %d %q %q", code, o, e)
			}
			code, o, _ = ctl("--json", "stage", v1)
			dr = api.DeployResult{}
			if code != 0 || json.Unmarshal([]byte(o), &dr) != nil || dr.AlreadyLive != "v1" || dr.DryRun {
				t.Fatalf("same content --json: %d %s", code, o)
			}
			if j := journal(); j != before {
				t.Errorf("dry runs and no-ops wrote to the journal:\n%s", strings.TrimPrefix(j, before))
			}
			if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
				t.Error(err)
			}
			// The next real deploy gets the id it would have had.
			if code, o, e := ctl("deploy", next); code != 0 || strings.TrimSpace(o) != "v2" {
				t.Fatalf("deploy after dry runs: %d %q %q", code, o, e)
			}
			if code, o, e := ctl("deploy", next, "--force"); code != 0 || strings.TrimSpace(o) != "v3" {
				t.Fatalf("--force: %d %q %q", code, o, e)
			}
			if err := storecheck.Check(root, storecheck.Options{}); err != nil {
				t.Error(err)
			}
		})
	}
}

// serveControl serves the store at root as site "www" on a real control
// socket, as release-agent does, and returns the socket's path.
func serveControl(t *testing.T, root string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "control.sock")
	srv := &control.Server{Service: &service.Local{Sites: map[string]*service.Site{"www": {Name: "www", Root: root}}, Via: "daemon"},
		Version: "test", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sock
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join(testdataDir, name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run %s -update):\n--- got\n%s\n--- want\n%s", p, t.Name(), got, want)
	}
}

// testdataDir is testdata/ of this package, absolute: tests chdir.
var testdataDir = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "testdata")
}()

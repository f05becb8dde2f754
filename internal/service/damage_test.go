package service

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/releases"
)

// deployN deploys n sites (hashed and validated, activated) into a new
// root and returns the service and target.
func deployN(t *testing.T, n int) (*Local, api.Target) {
	t.Helper()
	l, tg := newLocal(), api.Target{Root: t.TempDir()}
	for i := range n {
		if _, err := l.Deploy(context.Background(), api.DeployRequest{Target: tg, Source: site(t, "site"+string(rune('a'+i))), Activate: true}); err != nil {
			t.Fatalf("deploy %d: %v", i+1, err)
		}
	}
	return l, tg
}

func removeTree(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

func hasWarning(ws []string, sub string) bool {
	return slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, sub) })
}

// The live tree deleted by hand: status and list say so, and rollback,
// activate and deploy (also --no-hash --no-validate) work.
func TestLiveTreeMissing(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{"rollback", "activate", "deploy", "deploy-plain"} {
		t.Run(op, func(t *testing.T) {
			l, tg := deployN(t, 2)
			removeTree(t, filepath.Join(tg.Root, "releases", "v2"))

			st, err := l.Status(ctx, tg)
			if err != nil || st.Current == nil || st.Current.Damage == "" || !hasWarning(st.Warnings, "v2") {
				t.Fatalf("status: %+v %v, want a warning about v2", st, err)
			}
			ls, err := l.List(ctx, tg)
			if err != nil || !hasWarning(ls.Warnings, "v2 has no tree") {
				t.Fatalf("list: %+v %v, want a warning about v2", ls, err)
			}
			switch op {
			case "rollback":
				r, err := l.Rollback(ctx, api.ActivateRequest{Target: tg})
				if err != nil || r.To != "v1" || !hasWarning(r.Warnings, "carry-over skipped") {
					t.Fatalf("rollback: %+v %v", r, err)
				}
			case "activate":
				r, err := l.Activate(ctx, api.ActivateRequest{Target: tg, ID: "v1"})
				if err != nil || r.To != "v1" {
					t.Fatalf("activate: %+v %v", r, err)
				}
			default:
				req := api.DeployRequest{Target: tg, Source: site(t, "three"), Activate: true, NoHash: op == "deploy-plain", NoVerify: op == "deploy-plain"}
				r, err := l.Deploy(ctx, req)
				if err != nil || !r.Activated || r.Release.ID != "v3" || !hasWarning(r.Warnings, "no tree") {
					t.Fatalf("deploy: %+v %v", r, err)
				}
			}
			st, err = l.Status(ctx, tg)
			if err != nil || len(st.Warnings) != 0 {
				t.Fatalf("status after the repair: %+v %v", st, err)
			}
		})
	}
}

// A status check with a file missing from the live tree.
func TestLiveFileMissing(t *testing.T) {
	l, tg := deployN(t, 1)
	p := filepath.Join(tg.Root, "releases", "v1", "index.html")
	os.Chmod(filepath.Dir(p), 0o755)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(context.Background(), tg)
	if err != nil || st.Current.Damage == "" || !hasWarning(st.Warnings, "index.html") {
		t.Fatalf("status: %+v %v", st, err)
	}
}

// A truncated record: list shows it damaged, prune skips it, rollback
// finds it as the previous release, fsck --repair rebuilds it.
func TestDamagedRecord(t *testing.T) {
	ctx := context.Background()
	l, tg := deployN(t, 3)
	rec := filepath.Join(tg.Root, "state", "records", "v2.json")
	b, _ := os.ReadFile(rec)
	if err := os.WriteFile(rec, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	ls, err := l.List(ctx, tg)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	i := slices.IndexFunc(ls.Releases, func(r api.Release) bool { return r.ID == "v2" })
	if i < 0 || ls.Releases[i].Status != releases.StatusDamaged || ls.Releases[i].Error == "" || len(ls.Warnings) == 0 {
		t.Fatalf("list: %+v", ls)
	}
	if ls.Previous != "v2" {
		t.Errorf("previous %q, want v2 (found from the journal)", ls.Previous)
	}
	pr, err := l.Prune(ctx, api.PruneRequest{Target: tg, Keep: 1})
	if err != nil || slices.Contains(pr.Pruned, "v2") {
		t.Fatalf("prune: %+v %v", pr, err)
	}
	if _, err := os.Stat(filepath.Join(tg.Root, "releases", "v2")); err != nil {
		t.Fatalf("prune removed the damaged release's tree: %v", err)
	}

	fr, err := l.Fsck(ctx, api.FsckRequest{Target: tg})
	if err != nil || fr.Clean || !slices.ContainsFunc(fr.Problems, func(p releases.Problem) bool { return p.Kind == "record" && p.Release == "v2" }) {
		t.Fatalf("fsck: %+v %v", fr, err)
	}
	fr, err = l.Fsck(ctx, api.FsckRequest{Target: tg, Repair: true})
	if err != nil || !fr.Clean {
		t.Fatalf("fsck --repair: %+v %v", fr, err)
	}
	r, err := l.Rollback(ctx, api.ActivateRequest{Target: tg})
	if err != nil || r.To != "v2" {
		t.Fatalf("rollback: %+v %v", r, err)
	}
	if fr, err := l.Fsck(ctx, api.FsckRequest{Target: tg}); err != nil || !fr.Clean {
		t.Fatalf("fsck after the repair: %+v %v", fr, err)
	}
}

// Rollback to a release whose record is damaged, before any repair.
func TestRollbackToDamagedRecord(t *testing.T) {
	ctx := context.Background()
	l, tg := deployN(t, 2)
	if err := os.WriteFile(filepath.Join(tg.Root, "state", "records", "v1.json"), []byte(`{"id": "v1", "sta`), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := l.Rollback(ctx, api.ActivateRequest{Target: tg})
	if err != nil || r.To != "v1" {
		t.Fatalf("rollback: %+v %v", r, err)
	}
	if st, err := l.Status(ctx, tg); err != nil || st.Current.ID != "v1" || len(st.Warnings) == 0 {
		t.Fatalf("status: %+v %v", st, err)
	}
}

// An empty or garbage next-id is rebuilt, never reusing an id, and fsck
// reports and repairs it.
func TestNextIDRebuilt(t *testing.T) {
	ctx := context.Background()
	for _, content := range []string{"", "garbage\n", "-3\n"} {
		l, tg := deployN(t, 2)
		// v3 failed and left only a journal line (its record lost too).
		if _, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: filepath.Join(t.TempDir(), "missing")}); err == nil {
			t.Fatal("deploy of a missing source succeeded")
		}
		next := filepath.Join(tg.Root, "state", "next-id")
		os.WriteFile(next, []byte(content), 0o644)
		fr, err := l.Fsck(ctx, api.FsckRequest{Target: tg})
		if err != nil || fr.Clean || !slices.ContainsFunc(fr.Problems, func(p releases.Problem) bool { return p.Kind == "next-id" }) {
			t.Fatalf("fsck with next-id %q: %+v %v", content, fr, err)
		}
		r, err := l.Deploy(ctx, api.DeployRequest{Target: tg, Source: site(t, "new"), Activate: true})
		if err != nil {
			t.Fatalf("deploy with next-id %q: %v", content, err)
		}
		ls, _ := l.List(ctx, tg)
		if n, _ := releases.ParseID(r.Release.ID); n <= 2 || len(ls.Releases) < 3 {
			t.Fatalf("next-id %q: new id %s reuses one (list %+v)", content, r.Release.ID, ls.Releases)
		}
	}
}

// fsck: clean on a healthy store; finds and repairs an empty next-id, a
// truncated record and a leftover staging tree.
func TestFsck(t *testing.T) {
	ctx := context.Background()
	l, tg := deployN(t, 2)
	fr, err := l.Fsck(ctx, api.FsckRequest{Target: tg, Full: true})
	if err != nil || !fr.Clean || len(fr.Problems) != 0 {
		t.Fatalf("fsck of a healthy store: %+v %v", fr, err)
	}
	os.WriteFile(filepath.Join(tg.Root, "state", "next-id"), nil, 0o644)
	os.WriteFile(filepath.Join(tg.Root, "state", "records", "v1.json"), []byte("{"), 0o644)
	os.MkdirAll(filepath.Join(tg.Root, "state", "staging", "v9", "css"), 0o755)
	fr, err = l.Fsck(ctx, api.FsckRequest{Target: tg})
	if err != nil || fr.Clean {
		t.Fatalf("fsck: %+v %v", fr, err)
	}
	kinds := map[string]bool{}
	for _, p := range fr.Problems {
		kinds[p.Kind] = true
	}
	if !kinds["next-id"] || !kinds["record"] || !kinds["leftover"] {
		t.Fatalf("fsck found %+v", fr.Problems)
	}
	fr, err = l.Fsck(ctx, api.FsckRequest{Target: tg, Repair: true})
	if err != nil || !fr.Clean {
		t.Fatalf("fsck --repair: %+v %v", fr, err)
	}
	for _, p := range fr.Problems {
		if p.Repaired == "" {
			t.Errorf("not repaired: %+v", p)
		}
	}
	fr, err = l.Fsck(ctx, api.FsckRequest{Target: tg, Full: true})
	if err != nil || !fr.Clean || len(fr.Problems) != 0 {
		t.Fatalf("fsck after --repair: %+v %v", fr, err)
	}
	rec, err := releases.Open(tg.Root)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := rec.Record("v1"); err != nil || r.Status != releases.StatusStaged || r.Files == 0 || r.Source.Spec == "" {
		t.Fatalf("rebuilt record: %+v %v", r, err)
	}
}

package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/example/release-agent/releases"
)

func TestMergeProvenance(t *testing.T) {
	meta := map[string]string{
		"etag": "x", "x-amz-meta-sha256": strings.Repeat("0", 64),
		"x-amz-meta-git-sha": "ABCDEF1", "x-amz-meta-commit": "1111", "x-amz-meta-message": "from ci",
		"x-amz-meta-branch": "main", "x-amz-meta-build.id": "7", // not a label key: left out
	}
	p, err := MergeProvenance(nil, meta)
	if err != nil {
		t.Fatal(err)
	}
	if p.Commit != "abcdef1" || p.Message != "from ci" || len(p.Meta) != 1 || p.Meta["branch"] != "main" {
		t.Errorf("from metadata: %+v", p)
	}
	p, err = MergeProvenance(&releases.Provenance{Commit: "2222", Meta: map[string]string{"branch": "fix"}}, meta)
	if err != nil || p.Commit != "2222" || p.Message != "from ci" || p.Meta["branch"] != "fix" {
		t.Errorf("flags over metadata: %+v, %v", p, err)
	}
	if p, err := MergeProvenance(nil, map[string]string{"x-amz-meta-commit": "beef"}); err != nil || p.Commit != "beef" {
		t.Errorf("x-amz-meta-commit: %+v, %v", p, err)
	}
	if p, err := MergeProvenance(nil, map[string]string{"etag": "x", "streamed": "true"}); p != nil || err != nil {
		t.Errorf("no provenance: %+v, %v", p, err)
	}
	// A bad value in the metadata is an error naming its key, unless the
	// request overrides it.
	for k, v := range map[string]string{"x-amz-meta-git-sha": "main", "x-amz-meta-message": "a\x01b", "x-amz-meta-job": strings.Repeat("j", releases.MaxMetaValue+1)} {
		_, err := MergeProvenance(nil, map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v, want an error naming %s", k, v, err, k)
		}
	}
	if p, err := MergeProvenance(&releases.Provenance{Commit: "abcd"}, map[string]string{"x-amz-meta-git-sha": "main"}); err != nil || p.Commit != "abcd" {
		t.Errorf("a bad metadata commit under --commit: %+v, %v", p, err)
	}
}

// TestDeployRecordsProvenance: the provenance of a request is in the
// record and every journal event of the release, also of one that was
// rejected.
func TestDeployRecordsProvenance(t *testing.T) {
	s := newStore(t)
	prov := &releases.Provenance{Commit: "ABC123", Message: "fix the menu", Meta: map[string]string{"job": "42"}}
	res, err := Deploy(t.Context(), s, Request{Source: dirSource(site)(t), Activate: true, Provenance: prov})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Record(res.Record.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p := rec.Provenance; p == nil || p.Commit != "abc123" || p.Message != "fix the menu" || p.Meta["job"] != "42" {
		t.Errorf("record provenance = %+v", rec.Provenance)
	}
	_, err = Deploy(t.Context(), s, Request{Source: dirSource(broken)(t), Activate: true, Stages: []Stage{validating()},
		Provenance: &releases.Provenance{Commit: "def456"}})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("broken deploy: %v", err)
	}
	evs, _, err := s.Journal(0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ev := range evs {
		if ev.Provenance != nil {
			got[ev.Event] = ev.Provenance.Commit
		}
	}
	if got[releases.EvStaged] != "abc123" || got[releases.EvActivated] != "abc123" || got[releases.EvRejected] != "def456" {
		t.Errorf("journal provenance by event = %v", got)
	}
	recs, err := s.Records()
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Status != releases.StatusRejected || recs[0].Provenance.Short() != "def456" {
		t.Errorf("rejected record = %+v", recs[0])
	}
}

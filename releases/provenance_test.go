package releases

import (
	"errors"
	"strings"
	"testing"
)

func TestProvenanceCheck(t *testing.T) {
	long := strings.Repeat("a", 65)
	for _, p := range []*Provenance{
		nil, {}, {Commit: "abc1"}, {Commit: strings.Repeat("F", 64)},
		{Message: "fix: menu\n\n\tdetails é"}, {Meta: map[string]string{"ci_job-1": "https://ci/42", "x": ""}},
	} {
		if err := p.Check(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	meta := map[string]string{}
	for i := range MaxMeta + 1 {
		meta[strings.Repeat("k", i+1)] = "v"
	}
	for _, c := range []struct {
		p     Provenance
		field string
	}{
		{Provenance{Commit: "abc"}, "commit"},
		{Provenance{Commit: "abcg"}, "commit"},
		{Provenance{Commit: long}, "commit"},
		{Provenance{Commit: "abc1 "}, "commit"},
		{Provenance{Message: strings.Repeat("m", MaxMessage+1)}, "message"},
		{Provenance{Message: "bell \a"}, "message"},
		{Provenance{Message: "bad \xff"}, "message"},
		{Provenance{Meta: map[string]string{"Key": "v"}}, "meta key"},
		{Provenance{Meta: map[string]string{"": "v"}}, "meta key"},
		{Provenance{Meta: map[string]string{long: "v"}}, "meta key"},
		{Provenance{Meta: map[string]string{"k": "a\nb"}}, "meta k"},
		{Provenance{Meta: map[string]string{"k": strings.Repeat("v", MaxMetaValue+1)}}, "meta k"},
		{Provenance{Meta: meta}, "meta"},
	} {
		err := c.p.Check()
		var pe *ProvenanceError
		if !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("%+v: %v, want an error naming %q", c.p, err, c.field)
		}
	}
}

func TestProvenanceOver(t *testing.T) {
	flags := &Provenance{Commit: "ABC123", Meta: map[string]string{"a": "flag"}}
	meta := &Provenance{Commit: "def456", Message: "from s3", Meta: map[string]string{"a": "s3", "b": "s3"}}
	got := flags.Over(meta)
	if got.Commit != "abc123" || got.Message != "from s3" || got.Meta["a"] != "flag" || got.Meta["b"] != "s3" {
		t.Errorf("Over = %+v", got)
	}
	if flags.Meta["b"] != "" || meta.Meta["a"] != "s3" {
		t.Error("Over changed its operands")
	}
	if p := (*Provenance)(nil).Over(&Provenance{}); p != nil {
		t.Errorf("nil over empty = %+v, want nil", p)
	}
	if p := (*Provenance)(nil).Over(meta); p.Commit != "def456" {
		t.Errorf("nil over meta = %+v", p)
	}
	if s := (&Provenance{Commit: strings.Repeat("a", 40)}).Short(); s != strings.Repeat("a", 10) {
		t.Errorf("Short = %q", s)
	}
}

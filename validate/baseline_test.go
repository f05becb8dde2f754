package validate

import (
	"context"
	"testing"
	"testing/fstest"
)

func TestBaselineFirst(t *testing.T) {
	broken := fstest.MapFS{
		"index.html": {Data: []byte(`<a href="gone.html">x</a><a href="#nope">y</a>`)},
	}
	// First release: findings reported, not blocking.
	rep, err := Check(context.Background(), broken, nil, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected() || len(rep.Findings) != 2 {
		t.Fatalf("first release: rejected=%v findings=%d, want accepted with 2 findings", rep.Rejected(), len(rep.Findings))
	}
	// Without the baseline rule the same tree is rejected.
	o := DefaultOptions()
	o.BaselineFirst = false
	if rep, _ := Check(context.Background(), broken, nil, o); !rep.Rejected() {
		t.Fatal("BaselineFirst=false: not rejected")
	}
	// Required files still block on a first release.
	noIndex := fstest.MapFS{"a.html": {Data: []byte(`<p>x`)}}
	if rep, _ := Check(context.Background(), noIndex, nil, DefaultOptions()); !rep.Rejected() {
		t.Fatal("missing index.html on a first release was not rejected")
	}
	// Once live, only new breakage blocks.
	next := fstest.MapFS{
		"index.html": {Data: []byte(`<a href="gone.html">x</a><a href="#nope">y</a><img src="new-missing.png">`)},
	}
	rep, _ = Check(context.Background(), next, broken, DefaultOptions())
	if !rep.Rejected() || rep.Blocking != 1 {
		t.Fatalf("against live: rejected=%v blocking=%d, want 1 blocking (the new image)", rep.Rejected(), rep.Blocking)
	}
}

package fleet

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// TestConditionalWrites: create only once, replace only from the ETag
// read, and concurrent Updates never lose a generation.
func TestConditionalWrites(t *testing.T) {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "ops")
	ctx := context.Background()
	b, err := New(m.Client, "s3://ops/fleet/www/")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Desired(ctx); !errors.Is(err, ErrNoDesired) {
		t.Fatalf("Desired on a new fleet: %v, want ErrNoDesired", err)
	}
	d := &Desired{Generation: 1, Release: "g1", Phase: PhaseStage, Artifact: Artifact{URL: "s3://builds/site.tar.gz"}}
	etag, err := b.PutDesired(ctx, d, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutDesired(ctx, d, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	d.Generation = 2 // a different body: S3's ETag of a simple PUT is its MD5
	if _, err := b.PutDesired(ctx, d, etag); err != nil {
		t.Fatalf("replace with the ETag read: %v", err)
	}
	if _, err := b.PutDesired(ctx, d, etag); !errors.Is(err, ErrConflict) {
		t.Fatalf("replace with a stale ETag: %v, want ErrConflict", err)
	}

	const writers = 8
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Update(ctx, func(cur *Desired) (*Desired, error) {
				n := *cur
				return &n, nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _, err := b.Desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != 2+writers {
		t.Fatalf("generation %d after %d concurrent updates of 2, want %d", got.Generation, writers, 2+writers)
	}

	if err := b.PutHost(ctx, &HostReport{Host: "web1", Generation: 3, State: StateStaged}); err != nil {
		t.Fatal(err)
	}
	hs, err := b.Hosts(ctx)
	if err != nil || len(hs) != 1 || hs[0].Host != "web1" || hs[0].State != StateStaged {
		t.Fatalf("Hosts = %+v, %v", hs, err)
	}
}

package fleet

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// The operator's side against a real MinIO. The members here are
// goroutines that answer desired.json the way the agent does (stage →
// staged or rejected, activate → live), so that each rule of the
// operations can be driven exactly; the real agents, with nginx and a load
// balancer, are tested in test/fleet.

type member struct {
	host   string
	reject map[string]bool // labels this member rejects
}

// runMembers starts members answering b until the test ends.
func runMembers(t *testing.T, b *Bucket, ms ...member) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep := &HostReport{Host: m.host, State: StateLive}
			for ctx.Err() == nil {
				if d, _, err := b.Desired(ctx); err == nil && d.Generation > rep.Generation {
					rep.Generation = d.Generation
					switch {
					case m.reject[d.Release]:
						rep.State, rep.Error = StateRejected, "index.html: broken link /missing"
					case d.Phase == PhaseStage:
						rep.State, rep.Error, rep.Staged = StateStaged, "", &HostRelease{Release: d.Release, ID: "v" + d.Release}
					default:
						rep.State, rep.Error, rep.Live = StateLive, "", &HostRelease{Release: d.Release, ID: "v" + d.Release}
					}
				}
				rep.Heartbeat = time.Now()
				b.PutHost(ctx, rep)
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		hs, _ := b.Hosts(context.Background())
		if len(hs) == len(ms) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members never reported: %d of %d", len(hs), len(ms))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newFleet(t *testing.T) *Bucket {
	m := testenv.StartMinIO(t, nil)
	m.MakeBucket(t, "ops")
	b, err := New(m.Client, "s3://ops/fleet/www/")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var quick = Options{Who: "test", Poll: 10 * time.Millisecond, Wait: 30 * time.Second}

func art(name string) Deploy {
	return Deploy{Artifact: Artifact{URL: "s3://builds/" + name + ".tar.gz"}, Label: name}
}

func TestDeployActivateRollback(t *testing.T) {
	b := newFleet(t)
	runMembers(t, b, member{host: "web1"}, member{host: "web2"}, member{host: "web3"})
	ctx := context.Background()
	res, err := DeployRelease(ctx, b, art("one"), quick)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hosts) != 3 || res.Desired.Phase != PhaseActivate || res.Desired.Release != "one" {
		t.Fatalf("after deploy: %+v", res)
	}
	for _, h := range res.Hosts {
		if h.Live != "one" || h.State != StateLive {
			t.Errorf("%s: %+v", h.Host, h)
		}
	}
	if _, err := DeployRelease(ctx, b, art("two"), quick); err != nil {
		t.Fatal(err)
	}
	if _, err := DeployRelease(ctx, b, art("two"), quick); err == nil || !strings.Contains(err.Error(), `label "two" is taken`) {
		t.Errorf("a second deploy labelled two: %v", err)
	}
	res, err = Rollback(ctx, b, "", quick)
	if err != nil || res.Desired.Release != "one" {
		t.Fatalf("rollback: %v %+v", err, res)
	}
	if res, err = Activate(ctx, b, "two", quick); err != nil || res.Desired.Release != "two" {
		t.Fatalf("activate two: %v", err)
	}
	if _, err := Activate(ctx, b, "nine", quick); !errors.Is(err, ErrUnknownRelease) || !strings.Contains(err.Error(), "one two") {
		t.Errorf("activate of an unknown label: %v", err)
	}
}

func TestDeployRejectedCallsOff(t *testing.T) {
	b := newFleet(t)
	runMembers(t, b, member{host: "web1"}, member{host: "web2", reject: map[string]bool{"bad": true}}, member{host: "web3"})
	ctx := context.Background()
	if _, err := DeployRelease(ctx, b, art("good"), quick); err != nil {
		t.Fatal(err)
	}
	res, err := DeployRelease(ctx, b, art("bad"), quick)
	var me *MemberError
	if !errors.As(err, &me) || me.Host != "web2" || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "broken link") {
		t.Fatalf("deploy rejected by web2: %v", err)
	}
	d, _, _ := b.Desired(ctx)
	if d.Release != "good" || d.Phase != PhaseActivate || res == nil || !res.Aborted {
		t.Fatalf("after the rejection desired.json is %s/%s (aborted %v), want good/activate", d.Release, d.Phase, res != nil && res.Aborted)
	}
	// No member was ever asked to activate bad.
	if _, ok := d.Find("bad"); !ok {
		t.Error("the called-off release is not remembered")
	}
}

func TestMissingMember(t *testing.T) {
	b := newFleet(t)
	runMembers(t, b, member{host: "web1"})
	o := quick
	o.Hosts = []string{"web1", "web9"}
	_, err := DeployRelease(context.Background(), b, art("one"), o)
	var me *MemberError
	if !errors.As(err, &me) || me.Host != "web9" || !errors.Is(err, ErrMissing) {
		t.Fatalf("deploy with a silent member: %v", err)
	}
	if d, _, err := b.Desired(context.Background()); !errors.Is(err, ErrNoDesired) {
		t.Fatalf("a deploy refused before it began wrote desired.json: %+v %v", d, err)
	}
	o.AllowMissing = true
	if _, err := DeployRelease(context.Background(), b, art("one"), o); err != nil {
		t.Fatalf("with AllowMissing: %v", err)
	}
	// No members at all.
	empty := newFleet(t)
	if _, err := DeployRelease(context.Background(), empty, art("one"), quick); !errors.Is(err, ErrNoMembers) {
		t.Fatalf("a fleet without members: %v", err)
	}
}

// TestConcurrentDeploys: of two deploys racing, the later writer's wins
// and the other stops with ErrSuperseded; it never activates the other's
// release, and the members end on one release.
func TestConcurrentDeploys(t *testing.T) {
	b := newFleet(t)
	runMembers(t, b, member{host: "web1"}, member{host: "web2"})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"left", "right"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = DeployRelease(context.Background(), b, art(name), quick)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrSuperseded) {
			t.Errorf("the losing deploy: %v, want ErrSuperseded", err)
		}
	}
	d, _, _ := b.Desired(context.Background())
	// Both succeed only when they ran one after the other.
	if ok == 0 {
		t.Fatalf("both deploys failed: %v", errs)
	}
	st, err := Status(context.Background(), b, quick)
	if err != nil {
		t.Fatal(err)
	}
	if d.Phase == PhaseActivate {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, _ = Status(context.Background(), b, quick)
			same := true
			for _, h := range st.Hosts {
				same = same && h.Live == d.Release
			}
			if same {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("members do not converge on %s: %+v", d.Release, st.Hosts)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

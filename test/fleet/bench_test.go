package fleet_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/release-agent/internal/fleet"
	"github.com/example/release-agent/test/loadtest"
)

// TestFleetBench is make bench's fleet section (scripts/bench-fleet.sh),
// run only when FLEET_BENCH is set: it prints a markdown section with
// ratios to baselines measured in the same run. It asserts nothing about
// time (timings never go into tests), only that every round converged.
//
//   - switch: from desired.json being written in phase activate until the
//     last of 5 hosts reports live, against one local `releasectl
//     activate` (process start included) on a store of its own;
//   - rollback: `fleet.Rollback` likewise (one conditional write);
//   - staging: from phase stage until all 5 report staged, against one
//     host's `releasectl deploy` of the same artifact from S3.
func TestFleetBench(t *testing.T) {
	if os.Getenv("FLEET_BENCH") == "" {
		t.Skip("set FLEET_BENCH=1 (make bench) to run the fleet benchmark")
	}
	const rounds = 7
	n := envInt("FLEET_HOSTS", 5)
	e := newEnv(t, n, nil)
	ctx := context.Background()
	o := fleet.Options{Who: "bench", Poll: 5 * time.Millisecond, Wait: time.Minute}

	files := loadtest.Site("x")
	art := func(id string) string {
		f := map[string][]byte{}
		for k, v := range files {
			f[k] = []byte(strings.ReplaceAll(string(v), "release:x", "release:"+id))
		}
		return e.upload(id, f)
	}
	// Baseline store: one host's deploy and activate, by releasectl.
	broot := filepath.Join(e.dir, "baseline")
	if err := os.Mkdir(broot, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+e.m.URL(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID="+e.m.AccessKey, "AWS_SECRET_ACCESS_KEY="+e.m.SecretKey)
	run := func(args ...string) time.Duration {
		cmd := exec.Command(e.ctl, append([]string{"--root", broot}, args...)...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("releasectl %v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}

	var sw, rb, stage, local, deployOne []time.Duration
	for i := range rounds {
		id := fmt.Sprintf("bench%d", i)
		url := art(id)
		// Stage on every host.
		t0 := time.Now()
		d, err := e.bucket.Update(ctx, func(cur *fleet.Desired) (*fleet.Desired, error) {
			next := &fleet.Desired{Release: id, Artifact: fleet.Artifact{URL: url}, Phase: fleet.PhaseStage, Who: "bench", When: time.Now().UTC()}
			if cur != nil {
				next.Releases = append(slices.Clone(cur.Releases), fleet.Labelled{Release: cur.Release, Artifact: cur.Artifact})
			}
			return next, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		waitAll(t, e, d.Generation, fleet.StateStaged, n)
		stage = append(stage, time.Since(t0))
		// Activate.
		t0 = time.Now()
		if d, err = e.bucket.Update(ctx, func(cur *fleet.Desired) (*fleet.Desired, error) {
			next := *cur
			next.Phase = fleet.PhaseActivate
			return &next, nil
		}); err != nil {
			t.Fatal(err)
		}
		waitAll(t, e, d.Generation, fleet.StateLive, n)
		sw = append(sw, time.Since(t0))
		e.allServe(id)
		// Baselines on one store: deploy the same artifact, activate.
		deployOne = append(deployOne, run("deploy", url, "--force"))
		if i > 0 {
			t0 = time.Now()
			if _, err := fleet.Rollback(ctx, e.bucket, "", o); err != nil {
				t.Fatal(err)
			}
			rb = append(rb, time.Since(t0))
			if _, err := fleet.Activate(ctx, e.bucket, id, o); err != nil {
				t.Fatal(err)
			}
			local = append(local, run("rollback"))
			run("activate", "v"+fmt.Sprint(i+1))
		}
	}
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f×", float64(a)/float64(b)) }
	fmt.Printf(`
## Fleet (%d hosts, loopback, medians of %d rounds)

| what | fleet | baseline | ratio |
|---|---|---|---|
| activate: desired.json in phase activate → last host live | %s | local releasectl rollback %s | %s |
| fleet rollback (fleet.Rollback: one conditional write) → last host live | %s | local releasectl rollback %s | %s |
| staging on every host → last host staged | %s | one host's releasectl deploy of the same artifact %s | %s |

Targets: fleet switch and fleet rollback under 1 s on loopback (absolute: %s and %s).
`, n, rounds, ms(med(sw)), ms(med(local)), ratio(med(sw), med(local)),
		ms(med(rb)), ms(med(local)), ratio(med(rb), med(local)),
		ms(med(stage)), ms(med(deployOne)), ratio(med(stage), med(deployOne)), ms(med(sw)), ms(med(rb)))
}

// waitAll polls the reports until n hosts answer generation gen with
// state, with a deadline.
func waitAll(t *testing.T, e *env, gen int64, state fleet.State, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		reps, err := e.bucket.Hosts(context.Background())
		ok := 0
		if err == nil {
			for _, r := range reps {
				if r.Generation == gen && (r.State == state || state == fleet.StateStaged && r.State == fleet.StateLive) {
					ok++
				}
			}
		}
		if ok >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("generation %d: %d of %d hosts %s", gen, ok, n, state)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

package crashtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/testutil/storecheck"
	"github.com/example/release-agent/releases"
)

// window is where a stage of a deploy falls in the process's wall time.
type window struct {
	stage      string
	start, end time.Duration
}

// phases runs three deploys with --json (alternating archives) and maps
// each stage they report onto the process's wall-clock time, using the
// median duration of each stage: the time not covered by stages (process
// start, opening the store, taking the lock) is put before the first one.
// It returns the windows and the median wall time.
func phases(t *testing.T, root string, archives []string, keep string) ([]window, time.Duration) {
	t.Helper()
	var walls []time.Duration
	stages := map[string][]time.Duration{}
	var order []string
	for i := range 3 {
		r := mustCtl(t, "--root", root, "--json", "deploy", archives[(i+1)%len(archives)], "--keep", keep)
		var d api.DeployResult
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatalf("deploy --json: %v\n%s", err, r.stdout)
		}
		walls = append(walls, r.wall)
		for _, tm := range d.Timings {
			if _, ok := stages[tm.Stage]; !ok {
				order = append(order, tm.Stage)
			}
			stages[tm.Stage] = append(stages[tm.Stage], time.Duration(tm.Seconds*float64(time.Second)))
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	var sum time.Duration
	for _, st := range order {
		sum += median(stages[st])
	}
	wall := median(walls)
	at := max(wall-sum, 0)
	var ws []window
	for _, st := range order {
		d := median(stages[st])
		ws = append(ws, window{st, at, at + d})
		at += d
	}
	return ws, wall
}

// ids tracks every release id the store ever recorded, with its creation
// time, to prove that no id is reused.
type ids struct {
	created map[string]time.Time
	maxNext int64
}

func (s *ids) check(t *testing.T, root, when string) {
	t.Helper()
	for _, r := range list(t, root).Releases {
		if c, ok := s.created[r.ID]; ok && !c.Equal(r.Created) {
			t.Fatalf("%s: id %s reused: created %v, now %v", when, r.ID, c, r.Created)
		}
		s.created[r.ID] = r.Created
	}
	b, err := os.ReadFile(filepath.Join(root, "state", "next-id"))
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	next, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: next-id %q: %v", when, b, err)
	}
	if next < s.maxNext {
		t.Fatalf("%s: next-id went back from %d to %d", when, s.maxNext, next)
	}
	s.maxNext = next
}

// killAt starts args, sends SIGKILL after at, and reports whether the
// signal ended the process (false: it had finished before).
func killAt(t *testing.T, at time.Duration, args ...string) (killed bool, out string, wall time.Duration) {
	t.Helper()
	cmd := command(t, args...)
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(at, func() { cmd.Process.Signal(syscall.SIGKILL) })
	err := cmd.Wait()
	wall = time.Since(start)
	timer.Stop()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, buf.String(), wall
		}
	}
	if err != nil {
		t.Fatalf("releasectl %s: %v (not killed)\n%s", strings.Join(args, " "), err, buf.String())
	}
	return false, buf.String(), wall
}

// afterKill checks the store right after a kill, lets the next writer
// recover, and checks again.
// The recovery messages, with ids and paths generalised, tell which stage
// a kill interrupted.
var idRE = regexp.MustCompile(`v[0-9]+|\.[^ /]*\.tmp-[0-9a-f]{16}|\.tmp-[^ ]*|state/[^ ]*`)

func afterKill(t *testing.T, root, what string, seen *ids, tally map[string]int) (recovered []string) {
	t.Helper()
	if err := storecheck.Check(root, storecheck.Options{}); err != nil {
		t.Fatalf("%s: store broken before recovery:\n%v", what, err)
	}
	// current serves a page: read one through the symlink, as nginx does.
	if _, err := os.ReadFile(filepath.Join(root, "current", "index.html")); err != nil {
		t.Fatalf("%s: current does not serve: %v", what, err)
	}
	r := mustCtl(t, "--root", root, "prune", "--keep", "3")
	if err := storecheck.Check(root, storecheck.Options{AfterRecovery: true}); err != nil {
		t.Fatalf("%s: after the next writer ran:\n%v", what, err)
	}
	seen.check(t, root, what)
	n := 0
	for _, l := range strings.Split(r.stderr, "\n") {
		if m, ok := strings.CutPrefix(l, "recovered: "); ok {
			tally[idRE.ReplaceAllStringFunc(m, func(s string) string {
				if s[0] == 'v' {
					return "vN"
				}
				return "PATH"
			})]++
			n++
			recovered = append(recovered, m)
		}
	}
	if n == 0 {
		tally["(nothing to recover)"]++
	}
	return recovered
}

func logTally(t *testing.T, tally map[string]int) {
	keys := make([]string, 0, len(tally))
	for k := range tally {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  %3d x %s", tally[k], k)
	}
}

// TestCrashKillDeploy kills `releasectl deploy` with SIGKILL at random
// instants, spread evenly over the stages the deploy reports (staging,
// hashing, validation, commit, activation, pruning): the n-th kill aims
// at stage n mod the stage count, at a uniformly random instant of that
// stage's window in a measured deploy.
func TestCrashKillDeploy(t *testing.T) {
	kills := soak(20, 200, 6)
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	archives := []string{bigSite(t, 1000, 1), bigSite(t, 1000, 2)}
	mustCtl(t, "--root", root, "deploy", archives[0])
	ws, wall := phases(t, root, archives, "2")
	t.Logf("median deploy: %v", wall.Round(time.Millisecond))
	for _, w := range ws {
		t.Logf("stage %-10s %8v .. %8v", w.stage, w.start.Round(time.Microsecond), w.end.Round(time.Microsecond))
	}
	seen := &ids{created: map[string]time.Time{}}
	seen.check(t, root, "start")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	hit := map[string][2]int{} // stage -> killed, finished first
	tally := map[string]int{}
	scale := 1.0
	_, _, ptyErr := openPTY()
	if ptyErr != nil {
		t.Logf("no pseudo-terminal (%v): aiming by time instead of by progress line", ptyErr)
	}
	for i := range kills {
		w := ws[i%len(ws)]
		var killed bool
		var out, what string
		if ptyErr == nil {
			// Aim by the progress line: kill a uniformly random time
			// into the stage's median duration after it starts. Pruning
			// has no progress line: it follows activation.
			stage, off := w.stage, rng.Float64()*float64(w.end-w.start)
			if stage == "prune" {
				stage = "activate"
				for _, v := range ws {
					if v.stage == "activate" {
						off += float64(v.end - v.start)
					}
				}
			}
			var seenStage bool
			killed, seenStage, out = killInStage(t, stage, time.Duration(off), "--root", root, "deploy", archives[i%2], "--keep", "2", "--force")
			what = fmt.Sprintf("kill %d, %v into %s", i, time.Duration(off), w.stage)
			if !seenStage {
				t.Logf("kill %d: stage %s never showed on the progress line", i, stage)
			}
		} else {
			// Deploys get faster or slower with the machine's load:
			// scale the windows by the last deploy that finished before
			// its signal.
			at := time.Duration(scale * (float64(w.start) + rng.Float64()*float64(w.end-w.start)))
			var took time.Duration
			killed, out, took = killAt(t, at, "--root", root, "deploy", archives[i%2], "--keep", "2", "--force")
			if !killed {
				scale = float64(took) / float64(wall)
			}
			what = fmt.Sprintf("kill %d at %v aimed at %s", i, at, w.stage)
		}
		h := hit[w.stage]
		if killed {
			h[0]++
		} else {
			h[1]++
			if !strings.Contains(out, "is live") {
				t.Logf("kill %d: deploy finished before the kill: %s", i, out)
			}
		}
		hit[w.stage] = h
		rec := afterKill(t, root, what, seen, tally)
		// Aimed after the commit but the staging tree was still there:
		// this run was slower than the windows say.
		if ptyErr != nil && killed && (w.stage == "commit" || w.stage == "activate" || w.stage == "prune") &&
			len(rec) > 0 && strings.Contains(rec[0], "staging tree") {
			scale *= 1.15
		}
	}
	// A deploy after all that works and gets a fresh id (--force: the
	// artifact may be the live content, which is otherwise a no-op).
	r := mustCtl(t, "--root", root, "deploy", archives[0], "--force")
	id := strings.TrimSpace(r.stdout)
	n, ok := releases.ParseID(id)
	if !ok || n < seen.maxNext {
		t.Fatalf("final deploy got %q, want an id not below next-id %d", id, seen.maxNext)
	}
	total := 0
	for _, w := range ws {
		h := hit[w.stage]
		total += h[0]
		t.Logf("aimed at %-10s: %d killed, %d finished before the signal", w.stage, h[0], h[1])
	}
	t.Logf("%d/%d kills landed, store consistent after every one; what the next writer recovered:", total, kills)
	logTally(t, tally)
}

// TestCrashKillSwitch kills rollback and activate (whose work is almost all the
// swap and its bookkeeping) at random instants of their run, so that the
// window between the symlink rename and the journal entry is hit often.
func TestCrashKillSwitch(t *testing.T) {
	kills := soak(20, 200, 6)
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	a, b := bigSite(t, 50, 1), bigSite(t, 50, 2)
	mustCtl(t, "--root", root, "deploy", a)
	mustCtl(t, "--root", root, "deploy", b)
	// How long does a switch take, process start included?
	r := mustCtl(t, "--root", root, "rollback")
	full := r.wall
	t.Logf("one rollback takes %v; killing within %v..%v", full, full*3/10, full*11/10)
	seen := &ids{created: map[string]time.Time{}}
	seen.check(t, root, "start")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	killed := 0
	tally := map[string]int{}
	for i := range kills {
		l := list(t, root)
		// Alternate: activate the newest staged release that is not
		// current, or roll back.
		args := []string{"--root", root, "rollback"}
		if i%2 == 0 || l.Previous == "" {
			for _, rel := range l.Releases {
				if rel.Status == releases.StatusStaged && rel.ID != l.Current {
					args = []string{"--root", root, "activate", rel.ID}
					break
				}
			}
		}
		// The swap comes near the end of the run: aim at 30%..110%.
		at := full*3/10 + time.Duration(rng.Int64N(int64(full*8/10)))
		k, _, _ := killAt(t, at, args...)
		if k {
			killed++
		}
		afterKill(t, root, "kill "+strconv.Itoa(i)+" of "+args[2]+" at "+at.String(), seen, tally)
		if cur := list(t, root).Current; cur == "" {
			t.Fatalf("kill %d: no current release", i)
		}
	}
	t.Logf("%d switches, %d of them killed mid-run; store consistent after every one; recovered:", kills, killed)
	logTally(t, tally)
}

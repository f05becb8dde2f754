package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/example/release-agent/internal/gopanic"
	"github.com/example/release-agent/releases"
)

// panicStage panics in the stage's goroutine, or (workers) in one of the
// worker goroutines it waits for, the way validate and hashassets carry a
// worker's panic back (package gopanic).
type panicStage struct{ workers bool }

func (panicStage) Name() string { return "panic" }
func (p panicStage) Run(ctx context.Context, w *Work) error {
	if !p.workers {
		panic("stage exploded")
	}
	var pc gopanic.Capture
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			defer pc.Recover()
			if i == 1 {
				panic("worker exploded")
			}
		})
	}
	wg.Wait()
	pc.Repanic()
	return nil
}

// TestDeployPanicIsAFailedRelease: a panic in a stage, or in a worker
// goroutine of a stage, fails the deploy with deploy.ErrPanic: the id is
// recorded as failed with the panic's value, its staging tree is removed,
// the lock is free and current is unchanged.
func TestDeployPanicIsAFailedRelease(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stage panicStage
		want  string
	}{{"in the stage", panicStage{}, "stage exploded"}, {"in a worker", panicStage{workers: true}, "worker exploded"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			deployTree(t, s, tree{"index.html": "<!doctype html><title>v1</title>"})
			_, err := Deploy(context.Background(), s, Request{Source: writeTree(t, t.TempDir(), tree{"index.html": "<!doctype html><title>v2</title>"}),
				Activate: true, Stages: []Stage{tc.stage}})
			var pe *PanicError
			if !errors.Is(err, ErrPanic) || !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) || len(pe.Stack) == 0 {
				t.Fatalf("err = %v, want a *PanicError with %q and a stack", err, tc.want)
			}
			if tc.stage.workers && !strings.Contains(string(pe.Stack), "panicStage.Run.func") {
				t.Errorf("the stack is not the worker's:\n%s", pe.Stack)
			}
			rec, err := s.Record("v2")
			if err != nil || rec.Status != releases.StatusFailed || !strings.Contains(rec.Error, tc.want) {
				t.Fatalf("v2 record = %+v, %v; want failed with the panic", rec, err)
			}
			if ents, _ := os.ReadDir(filepath.Join(s.StateDir(), "staging")); len(ents) > 0 {
				t.Errorf("staging left: %v", ents)
			}
			if cur, _ := s.Current(); cur != "v1" {
				t.Errorf("current = %q, want v1", cur)
			}
			deployTree(t, s, tree{"index.html": "<!doctype html><title>v3</title>"}) // the lock is free
		})
	}
}

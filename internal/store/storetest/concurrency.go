package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

// testConcurrentApply: goroutines applying events to one run while others
// read it. The run's lock makes the log gapless and every event count once;
// no write fails with "database is locked" or a serialization error.
func testConcurrentApply(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	const width, writers = 24, 4
	r := createRun(t, s, tn.ID, wideYAML(width), workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})

	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := w; i < width; i += writers {
				step := fmt.Sprintf("s%d", i)
				for _, e := range []engine.Event{
					{Kind: engine.StepStarted, Step: step, Attempt: 1},
					{Kind: engine.StepExited, Step: step, Attempt: 1},
				} {
					if _, _, err := s.Apply(ctx, r.ID, e); err != nil {
						errs <- fmt.Errorf("Apply(%s %s): %w", e.Kind, step, err)
						return
					}
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.GetRun(ctx, tn.ID, r.ID); err != nil {
					errs <- fmt.Errorf("GetRun: %w", err)
					return
				}
				if _, err := s.ListRuns(ctx, tn.ID, store.RunFilter{}, store.Page{}); err != nil {
					errs <- fmt.Errorf("ListRuns: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := getRun(t, s, tn.ID, r.ID)
	if got.Status != engine.RunSucceeded || got.LastSeq != 1+2*width {
		t.Fatalf("run %s at seq %d, want succeeded at %d", got.Status, got.LastSeq, 1+2*width)
	}
	final, _, err := s.Apply(ctx, r.ID, engine.Event{Kind: engine.CancelRequested}) // ignored: returns the state
	if err != nil {
		t.Fatal(err)
	}
	checkProjection(t, got, final)
	checkReplay(t, s, got, final)
	finishes := 0
	for _, c := range claim(t, s, "w", 1000) {
		if c.Kind == store.CommandFinishRun {
			finishes++
		}
	}
	if finishes != 1 {
		t.Fatalf("finish_run enqueued %d times, want once", finishes)
	}
}

// testTwoStores: two stores on the same data (two server processes)
// applying to one run in turn. Neither may act on a state the other has
// moved past.
func testTwoStores(t *testing.T, open Opener) {
	a, b := open(t), open(t)
	tn := tenant(t, a, "acme")
	r := createRun(t, a, tn.ID, diamondYAML, workflow.Vars{})
	apply(t, a, r.ID, engine.Event{Kind: engine.RunRequested})
	apply(t, b, r.ID, engine.Event{Kind: engine.StepStarted, Step: "A", Attempt: 1})
	apply(t, a, r.ID, engine.Event{Kind: engine.StepStarted, Step: "B", Attempt: 1}) // a must see A started
	apply(t, b, r.ID, engine.Event{Kind: engine.StepExited, Step: "A", Attempt: 1})
	st, cmds := apply(t, a, r.ID, engine.Event{Kind: engine.StepExited, Step: "B", Attempt: 1})
	if len(cmds) != 2 || cmds[0].Step != "D" || cmds[1].Step != "E" {
		t.Fatalf("B's exit applied by the other store gives %+v, want start D and E (C started already)", cmds)
	}
	got := getRun(t, b, tn.ID, r.ID)
	if got.LastSeq != 5 {
		t.Fatalf("LastSeq = %d, want 5", got.LastSeq)
	}
	checkProjection(t, got, st)
	checkReplay(t, b, got, st)
}

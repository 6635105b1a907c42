package storetest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// tickClock returns a strictly increasing clock: every reading is one
// microsecond after the last, so event times order the history.
func tickClock() func() time.Time {
	var n atomic.Int64
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Microsecond) }
}

// testQuotaRace: many goroutines request, finish and cancel runs of one
// tenant at once. The event logs, timed by one strictly increasing clock
// read under the tenant's admission lock, must never show more than the
// limit running, and nothing may be left waiting at the end.
func testQuotaRace(t *testing.T, open Opener) {
	const workers, perWorker, limit = 8, 6, 3
	s := open(t, store.WithClock(tickClock()))
	ctx := context.Background()
	tn := onPlan(t, s, "race", 1_000_000, limit)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		runs []int64
	)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				r, err := s.CreateAndAdmit(ctx, store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte(oneStepYAML)})
				if err != nil {
					t.Errorf("CreateAndAdmit: %v", err)
					return
				}
				mu.Lock()
				runs = append(runs, r.ID)
				mu.Unlock()
				if (w+i)%4 == 0 {
					st, _, err := s.Apply(ctx, r.ID, engine.Event{Kind: engine.CancelRequested, Reason: "changed my mind"})
					if err == nil && !st.Status.Terminal() {
						// Admitted: its queued step must report that it stopped.
						_, _, err = s.Apply(ctx, r.ID, engine.Event{Kind: engine.ExecutorLost, Step: "one", Attempt: 1, Reason: "cancelled"})
					}
					if err != nil {
						t.Errorf("cancel: %v", err)
						return
					}
					continue
				}
				// Wait for the slot: admitted runs belong to workers that finish them.
				for {
					got, err := s.GetRun(ctx, tn.ID, r.ID)
					if err != nil {
						t.Errorf("GetRun: %v", err)
						return
					}
					if got.Status != engine.RunQueued {
						break
					}
					time.Sleep(time.Millisecond) // poll the real condition
				}
				for _, e := range []engine.Event{{Kind: engine.StepStarted, Step: "one", Attempt: 1}, {Kind: engine.StepExited, Step: "one", Attempt: 1}} {
					if _, _, err := s.Apply(ctx, r.ID, e); err != nil {
						t.Errorf("Apply: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, id := range runs {
		evs := events(t, s, tn.ID, id)
		r := getRun(t, s, tn.ID, id)
		if !r.Status.Terminal() {
			t.Fatalf("run %d is %s/%s after every worker finished", id, r.Status, r.Admission)
		}
		for _, e := range evs {
			if e.Kind == engine.RunRequested {
				edges = append(edges, edge{e.Time, +1}, edge{evs[len(evs)-1].Time, -1})
			}
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant (one transaction)
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	if most > limit {
		t.Fatalf("%d runs ran at once; the plan allows %d", most, limit)
	}
	if most < limit {
		t.Logf("at most %d ran at once (the limit is %d)", most, limit)
	}
	u, err := s.Usage(ctx, tn.ID)
	if err != nil || u.Running != 0 || u.Pending != 0 || u.Blocked != 0 {
		t.Fatalf("usage at the end: %+v, %v", u, err)
	}
	checkLine(t, s, tn.ID, "after the race")
}

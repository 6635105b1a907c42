package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// A worker died holding a running step: once its lease expires, a
// scheduler on the shared store takes the start_step, records the attempt
// lost with the dead worker's name (not the restart reason: on a shared
// store Start leaves running steps to their leases), and the engine's
// retry runs here. Nothing polls (the poll interval is an hour, and no
// NOTIFY comes): the claim loop sleeps until the lease ends, as the store
// told it.
func TestExpiredLeaseOfRunningStepIsRecordedLost(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		var runID int64
		r := newRig(t, rigOpts{open: open, shared: true, poll: time.Hour, beforeStart: func(r *rig) {
			ctx := context.Background()
			run, err := r.st.CreateRun(ctx, store.NewRun{TenantID: r.tenant, File: ".runbook.yml", Trigger: "api",
				Source: []byte("steps:\n  - {name: a, command: \"true\", retries: 1}\n")})
			if err != nil {
				t.Fatal(err)
			}
			runID = run.ID
			if _, _, err := r.st.Apply(ctx, run.ID, engine.Event{Kind: engine.RunRequested}); err != nil {
				t.Fatal(err)
			}
			// The dead worker claimed and started attempt 1, then stopped
			// renewing its 200ms lease.
			cmds, err := r.st.ClaimCommands(ctx, "dead-worker", 10, 200*time.Millisecond)
			if err != nil || len(cmds) != 1 {
				t.Fatalf("dead worker's claim = %+v, %v", cmds, err)
			}
			if _, _, err := r.st.Apply(ctx, run.ID, engine.Event{Kind: engine.StepStarted, Step: "a", Attempt: 1}); err != nil {
				t.Fatal(err)
			}
		}})
		run := r.waitEnd(runID)
		if run.Status != engine.RunSucceeded {
			t.Fatalf("run %s (%s), want succeeded on the retry", run.Status, run.Reason)
		}
		evs := r.events(runID)
		i := find(evs, engine.ExecutorLost, "a", 1)
		if i < 0 || evs[i].Reason != LostLease("dead-worker") {
			t.Fatalf("events %+v: want attempt 1 lost with %q", evs, LostLease("dead-worker"))
		}
		if find(evs, engine.StepStarted, "a", 2) < 0 {
			t.Fatalf("attempt 2 never started: %+v", evs)
		}
	})
}

// A scheduler whose slots are all busy leaves new steps in the outbox for
// other workers instead of holding them until a slot frees, and leaves the
// worker table on shutdown.
func TestBusySchedulerLeavesStepsToOthers(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		r := newRig(t, rigOpts{open: open, maxSteps: 1})
		// long holds the only slot before next is even submitted (in a run
		// of its own, so long's loss at shutdown cannot cancel it).
		run := r.submit("steps:\n  - {name: long, command: sleep 300}\n", nil)
		r.waitRun(run.ID, "long to start", stepIs("long", engine.StepRunning))
		r.submit("steps:\n  - {name: next, command: \"true\"}\n", nil)
		// Whatever the loop did since, a claim made now would take next
		// if the free slots did not cap it.
		if _, _, err := r.s.claim(); err != nil {
			t.Fatal(err)
		}
		cmds, err := r.st.ClaimCommands(context.Background(), "successor", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got *store.Command
		for i := range cmds {
			if cmds[i].Step == "next" && cmds[i].Kind == store.CommandStartStep {
				got = &cmds[i]
			}
		}
		if got == nil || got.PrevOwner != "" {
			t.Fatalf("successor claimed %+v, want next's start_step never held by %s", cmds, r.s.Owner())
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := r.s.Shutdown(ctx, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if ws, err := r.st.ListWorkers(context.Background(), time.Hour); err != nil || len(ws) != 0 {
			t.Fatalf("workers after shutdown = %+v, %v; want none", ws, err)
		}
	})
}

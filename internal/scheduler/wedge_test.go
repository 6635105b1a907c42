package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// unclaimableYAML has a step no worker can take next to one that fails.
const unclaimableYAML = `steps:
  - name: arm
    runs_on: {arch: nowhere}
    command: echo never
  - name: bad
    command: sleep 1; exit 1
`

// Issue 13, item 3: a failing step used to leave its run running forever
// when a sibling was queued on labels no worker has, holding the tenant's
// only slot. Fail-fast and cancel must end such a run at once, free the
// slot, and leave no command for the step in the outbox.
func TestStopEndsARunWithAStepNoWorkerCanTake(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		r := newRig(t, rigOpts{open: open, beforeStart: func(r *rig) {
			ctx := context.Background()
			if err := r.st.PutPlan(ctx, quota.Plan{Name: "one", Minutes: 1000, MaxConcurrent: 1}); err != nil {
				t.Fatal(err)
			}
			if err := r.st.SetPlan(ctx, r.tenant, "one"); err != nil {
				t.Fatal(err)
			}
		}})

		failed := r.waitEnd(r.submit(unclaimableYAML, nil).ID)
		if failed.Status != engine.RunFailed || step(failed, "bad").Status != engine.StepFailed {
			t.Fatalf("run %s (%s), steps %+v: want failed by bad", failed.Status, failed.Reason, failed.Steps)
		}
		if arm := step(failed, "arm"); arm.Status != engine.StepCancelled || arm.StartedAt != (time.Time{}) {
			t.Errorf("arm %+v: want cancelled without ever starting", arm.StepState)
		}

		// A healthy run waiting only for a step nobody can take ends on cancel.
		waiting := r.submit("steps:\n  - name: arm\n    runs_on: {arch: nowhere}\n    command: echo never\n", nil)
		r.waitRun(waiting.ID, "arm to be queued", stepIs("arm", engine.StepQueued))
		if err := r.s.Cancel(context.Background(), r.tenant, waiting.ID, "nobody can take it"); err != nil {
			t.Fatal(err)
		}
		if got := r.waitEnd(waiting.ID); got.Status != engine.RunCancelled || step(got, "arm").Status != engine.StepCancelled {
			t.Fatalf("run %s, arm %s after cancel: want both cancelled", got.Status, step(got, "arm").Status)
		}

		// The tenant's one slot is free again.
		if next := r.waitEnd(r.submit("steps:\n  - name: ok\n    command: \"true\"\n", nil).ID); next.Status != engine.RunSucceeded {
			t.Fatalf("the next run of the tenant %s (%s)", next.Status, next.Reason)
		}
		// Nothing is left in the outbox: the unclaimable start_steps were
		// withdrawn, the rest done by the scheduler.
		waitDue(t, r.st, 0)
	})
}

// waitDue waits until the outbox holds want commands due and not done.
func waitDue(t *testing.T, st store.Store, want int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s, err := st.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.CommandsDue == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox holds %d commands due, want %d", s.CommandsDue, want)
		}
		time.Sleep(20 * time.Millisecond) // the scheduler completes commands in the background: nothing to wait on
	}
}

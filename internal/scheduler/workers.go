package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// workerHeartbeat keeps this process in the store's worker table every
// Lease/3 until shutdown, so MarkWaiting counts it as live. Shutdown
// removes the row.
func (s *Scheduler) workerHeartbeat() {
	tick := time.NewTicker(s.cfg.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Lease/3)
		if err := s.cfg.Store.RegisterWorker(ctx, s.cfg.Owner, s.cfg.Labels); err != nil {
			s.log.Warn("worker heartbeat failed; will retry", "err", err)
		}
		cancel()
	}
}

// unregister removes this process from the worker table at shutdown.
func (s *Scheduler) unregister() {
	if s.cfg.NoSteps {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.RemoveWorker(ctx, s.cfg.Owner); err != nil {
		s.log.Warn("could not remove this worker from the registry; it ages out after one lease", "err", err)
	}
}

// markWaiting records on queued steps that no live worker can take them.
// A worker is live while its heartbeat is younger than one lease.
func (s *Scheduler) markWaiting() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := s.cfg.Store.MarkWaiting(ctx, s.cfg.Lease)
	if err != nil {
		s.log.Warn("updating the waiting reasons of queued steps failed; retrying at the next tick", "err", err)
	}
	if n > 0 {
		s.log.Info("waiting reasons updated", "steps", n)
	}
}

// takenOver reports whether c is a start_step whose previous holder's
// lease expired while the step was running, and if so records that
// attempt as lost (the engine retries or fails it) and completes c: the
// engine's decision enqueued whatever comes next. A step still queued was
// never started by the previous holder, so c simply runs. A previous holder
// by this process's own name counts too: it was an earlier process under
// that name (a worker restarted with the same --id), since the claim loop
// never hands out again a command this process still holds.
func (s *Scheduler) takenOver(c store.Command) bool {
	if c.PrevOwner == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(s.force, 10*time.Second)
	r, err := s.cfg.Store.GetRun(ctx, c.TenantID, c.RunID)
	cancel()
	if err != nil {
		// Run as if new: StepStarted is refused for a running step, and the
		// stale command is completed; the next holder tries again.
		s.log.Warn("reading a run taken over from another worker", "run", c.RunID, "step", c.Step, "err", err)
		return false
	}
	for _, st := range r.Steps {
		if st.Name != c.Step || st.Status != engine.StepRunning || st.Attempt != c.Attempt {
			continue
		}
		e := engine.Event{Kind: engine.ExecutorLost, Step: c.Step, Attempt: c.Attempt, Reason: LostLease(c.PrevOwner)}
		if _, err := s.applyDurable(c.RunID, e); err != nil && !permanent(err) {
			return true // forced to stop: the command's lease expires and another scheduler decides
		}
		s.log.Warn("step lost by another worker; recorded", "run", c.RunID, "step", c.Step, "attempt", c.Attempt, "previous_owner", c.PrevOwner)
		s.complete(c)
		return true
	}
	return false
}

// LostLease is the reason recorded for an attempt whose worker stopped
// renewing its lease.
func LostLease(owner string) string {
	return fmt.Sprintf("lost: worker %s stopped renewing its lease (it died or lost the database); the attempt was taken over", owner)
}

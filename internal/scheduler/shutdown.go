package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errNotStarted stops a claimed step that was still waiting for a slot when
// shutdown began: it stays queued in the store for the next start.
var errNotStarted = errors.New("the server shut down before the step started")

// Shutdown stops the scheduler: it claims nothing more, lets running steps
// finish for up to grace, then cancels them (SIGTERM, then SIGKILL after
// the executor's grace period) and records ExecutorLost with the reason, so
// the engine retries them on the next start or fails them. It returns once
// every step goroutine is done.
//
// Cancelling ctx, or calling Shutdown again, forces the stop: every step's
// process group gets SIGKILL at once and nothing more is written; the next
// Start marks those steps lost. A forced stop returns an error saying so.
func (s *Scheduler) Shutdown(ctx context.Context, grace time.Duration) error {
	first := false
	s.shutOnce.Do(func() { first = true })
	if !first {
		s.forceStop()
		s.wg.Wait()
		return nil
	}
	s.stopping.Store(true)
	close(s.stop)
	if s.started.Load() {
		<-s.loopDone
	}
	s.dropUnstarted()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	defer s.unregister()
	select {
	case <-done:
		return nil
	case <-timer.C:
		s.log.Info("shutdown grace period ended; cancelling running steps", "grace", grace)
		s.cancelRunning(shutdownCause{grace, s.cfg.Role})
	case <-ctx.Done():
	case <-s.force.Done():
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	case <-s.force.Done():
	}
	s.forceStop()
	<-done
	return fmt.Errorf("scheduler: shutdown forced: running steps were killed without recording why; the next start marks them lost")
}

// dropUnstarted cancels the claimed steps still waiting for a slot. A step
// either saw stopping before it started, or is marked started and left to
// run: t.mu orders the two.
func (s *Scheduler) dropUnstarted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		t.mu.Lock()
		if !t.started {
			t.cancel(errNotStarted)
		}
		t.mu.Unlock()
	}
}

// cancelRunning cancels every step in hand with cause.
func (s *Scheduler) cancelRunning(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		t.cancel(cause)
	}
}

// forceStop stops every write retry and SIGKILLs every running step's
// process group, so no process is left behind however the steps behave.
func (s *Scheduler) forceStop() {
	s.forceNow()
	s.cancelRunning(errForced)
	s.procs.killAll()
}

var errForced = errors.New("the server's shutdown was forced")

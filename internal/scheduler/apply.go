package scheduler

import (
	"context"
	"errors"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// Backoff bounds for retrying a store that is unreachable.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// permanent reports whether retrying err can never help: the store answered,
// and said no.
func permanent(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) ||
		errors.Is(err, store.ErrRejected) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// applyOnce applies e once, for requests a person is waiting on: they see
// the error and may retry.
func (s *Scheduler) applyOnce(ctx context.Context, runID int64, e engine.Event) (engine.State, error) {
	e = s.stamp(e)
	st, cmds, err := s.cfg.Store.Apply(ctx, runID, e)
	if err != nil {
		return st, err
	}
	s.after(runID, e, cmds)
	return st, nil
}

// applyDurable applies e, retrying while the store is unreachable, until it
// succeeds, fails for good, or the scheduler is forced to stop. A step's
// result is the one thing that must never be dropped on a transient error.
func (s *Scheduler) applyDurable(runID int64, e engine.Event) (engine.State, error) {
	e = s.stamp(e)
	var st engine.State
	err := s.retry("applying "+string(e.Kind)+" of step "+e.Step, runID, func(ctx context.Context) error {
		var cmds []engine.Command
		var err error
		if st, cmds, err = s.cfg.Store.Apply(ctx, runID, e); err == nil {
			s.after(runID, e, cmds)
		}
		return err
	})
	return st, err
}

// stamp fills in what every event this process records carries: its time,
// and on a lost attempt the system's retry budget.
func (s *Scheduler) stamp(e engine.Event) engine.Event {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Kind == engine.ExecutorLost {
		e.LostRetries = s.cfg.LostRetries
	}
	return e
}

// retry calls op until it succeeds, fails permanently or the scheduler is
// forced to stop, backing off between transient failures.
func (s *Scheduler) retry(what string, runID int64, op func(context.Context) error) error {
	wait := minBackoff
	for {
		err := op(s.force)
		if err == nil || permanent(err) {
			return err
		}
		s.log.Warn("store unavailable, retrying", "run", runID, "doing", what, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-s.force.Done():
			return err
		}
		wait = min(2*wait, maxBackoff)
	}
}

// complete marks a command done, retrying transient failures.
func (s *Scheduler) complete(c store.Command) {
	err := s.retry("completing command "+string(c.Kind), c.RunID, func(ctx context.Context) error {
		return s.cfg.Store.CompleteCommand(ctx, c.ID, s.cfg.Owner)
	})
	if err != nil {
		s.log.Warn("could not complete command; it will be handed out again when its lease expires",
			"run", c.RunID, "command", c.ID, "kind", c.Kind, "step", c.Step, "err", err)
	}
}

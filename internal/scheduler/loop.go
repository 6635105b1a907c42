package scheduler

import (
	"context"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/store"
)

// loop claims commands until Shutdown. It sleeps until a signal (an Apply
// that enqueued commands, a freed slot), the earliest known retry, the
// moment the store says the next command becomes claimable (another
// owner's lease ending: a dead worker's steps are found within its lease),
// or the poll interval, whichever comes first.
func (s *Scheduler) loop() {
	defer close(s.loopDone)
	backoff := minBackoff
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastAdmit time.Time
	for {
		if time.Since(lastAdmit) >= admitInterval {
			lastAdmit = time.Now()
			s.admitWaiting()
			s.markWaiting()
		}
		full, next, err := s.claim()
		wait := s.cfg.PollInterval
		switch {
		case err != nil:
			s.log.Warn("claiming commands failed, retrying", "in", backoff, "err", err)
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		case full:
			wait, backoff = 0, minBackoff
		default:
			backoff = minBackoff
			if due := s.takeDue(); !due.IsZero() {
				wait = min(wait, max(time.Until(due), 0))
			}
			if !next.IsZero() {
				wait = min(wait, max(time.Until(next), 0))
			}
		}
		timer.Reset(wait)
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// takeDue returns the earliest pending retry time, forgetting it once past.
func (s *Scheduler) takeDue() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	due := s.nextDue
	if !due.IsZero() && !due.After(time.Now()) {
		s.nextDue = time.Time{}
	}
	return due
}

// claim claims one batch and hands each command to a goroutine. full says
// the batch was full, so more may be waiting; next is when the store says
// the next command becomes claimable (zero: unknown).
func (s *Scheduler) claim() (full bool, next time.Time, err error) {
	s.mu.Lock()
	limit := min(claimBatch, s.maxHeld-len(s.held))
	// Take no more steps than there are free slots: a step held here while
	// the slots are busy would wait, while another worker sits idle.
	maxStarts := s.cfg.MaxSteps - len(s.tasks)
	if maxStarts <= 0 {
		maxStarts = -1 // none; a step that ends signals the loop
	}
	s.mu.Unlock()
	if limit <= 0 {
		return false, time.Time{}, nil // a finishing command signals the loop
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmds, next, err := s.cfg.Store.ClaimFor(ctx, store.Claim{Owner: s.cfg.Owner, Limit: limit, Lease: s.cfg.Lease,
		Labels: s.cfg.Labels, NoSteps: s.cfg.NoSteps, MaxStarts: maxStarts})
	if err != nil {
		return false, time.Time{}, err
	}
	starts := 0
	for _, c := range cmds {
		if c.Kind == store.CommandStartStep {
			starts++
		}
	}
	// The cap may have left other commands behind the steps it skipped:
	// claim again at once (without steps, as the slots are now taken).
	capped := maxStarts > 0 && starts == maxStarts
	// Register every start before any goroutine runs, so a cancel_step in
	// the same batch finds the attempt it stops.
	s.mu.Lock()
	todo := cmds[:0]
	for _, c := range cmds {
		if s.held[c.ID] {
			continue // our own lease expired and we claimed it again: it is already in hand
		}
		s.held[c.ID] = true
		if c.Kind == store.CommandStartStep {
			s.tasks[taskKey{c.RunID, c.Step, c.Attempt}] = newTask(c)
		}
		todo = append(todo, c)
	}
	s.wg.Add(len(todo))
	s.mu.Unlock()
	for _, c := range todo {
		go s.handle(c)
	}
	return len(cmds) == limit || capped, next, nil
}

// handle carries out one command.
func (s *Scheduler) handle(c store.Command) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.held, c.ID)
		s.mu.Unlock()
		s.signal()
	}()
	switch c.Kind {
	case store.CommandStartStep:
		s.startStep(c)
	case store.CommandCancelStep:
		s.mu.Lock()
		t := s.tasks[taskKey{c.RunID, c.Step, c.Attempt}]
		s.mu.Unlock()
		if t != nil {
			t.cancel(errCancelled)
		}
		s.complete(c)
	case store.CommandRetryDue:
		_, err := s.applyDurable(c.RunID, engine.Event{Kind: engine.RetryDue, Step: c.Step, Attempt: c.Attempt})
		if err != nil && !permanent(err) {
			return // forced to stop: the command stays and is claimed after restart
		}
		s.complete(c)
	case store.CommandFinishRun:
		s.log.Info("run finished", "run", c.RunID, "tenant", c.TenantID, "status", c.Status, "reason", c.Reason)
		if s.cfg.Bus != nil {
			s.after(c.RunID, engine.Event{}, nil)
			s.cfg.Bus.Publish(eventbus.Note{Topic: eventbus.TenantTopic(c.TenantID), Seq: c.RunID})
		}
		s.complete(c)
	default:
		s.log.Error("unknown outbox command; completing it so it does not block the queue (a newer server wrote it?)",
			"run", c.RunID, "command", c.ID, "kind", c.Kind)
		s.complete(c)
	}
}

// admitInterval is how often the loop admits waiting runs whose tenant
// gained minutes by a new cycle starting (grants and finishing runs admit
// in their own transactions; this is for the passing of time alone).
const admitInterval = 5 * time.Second

// admitWaiting starts the blocked runs of tenants whose new cycle began.
func (s *Scheduler) admitWaiting() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := s.cfg.Store.AdmitWaiting(ctx)
	if err != nil {
		s.log.Warn("admitting waiting runs failed; retrying at the next tick", "err", err)
	}
	if n > 0 {
		s.log.Info("admitted waiting runs", "runs", n)
	}
}

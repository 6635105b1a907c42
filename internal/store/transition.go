package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/workflow"
)

// Transition is everything Apply writes for one event. It is computed
// without I/O so that every driver writes exactly the same thing.
type Transition struct {
	Event     engine.Event // as logged (Time filled in)
	Seq       int64        // the event's sequence number; the driver sets it
	State     engine.State
	StateJSON []byte
	Commands  []engine.Command
	Outbox    []Command // to enqueue; ID, RunID, TenantID and lease fields unset
	Changed   []int     // indexes of the steps whose projection changed
	// Withdraw lists the start_step commands (Step, Attempt) of attempts
	// the engine cancelled while they were queued: the driver marks each
	// done in the same transaction unless a live lease holds it (its holder
	// gets the cancel_step), so a step no worker can take leaves no
	// command behind.
	Withdraw []Command
	// Noop: Decide ignored the event. Nothing is written or logged: the
	// state is identical, so replaying the log without it gives the same
	// result.
	Noop bool
}

// NewTransition runs engine.Decide on prev (stored as prevJSON) and works out what
// to write. now is the store's clock. An engine error is wrapped in
// ErrRejected.
func NewTransition(prev engine.State, prevJSON []byte, e engine.Event, now time.Time) (Transition, error) {
	if e.Time.IsZero() {
		e.Time = now
	}
	// Both databases keep microseconds: the state must hold what the
	// projections and the log give back.
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	next, cmds, err := engine.Decide(prev, e)
	if err != nil {
		return Transition{}, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	nextJSON, err := json.Marshal(next)
	if err != nil {
		return Transition{}, fmt.Errorf("store: encoding run state: %w", err)
	}
	t := Transition{Event: e, State: next, StateJSON: nextJSON, Commands: cmds}
	// prevJSON came from json.Marshal too, so an unchanged state encodes
	// the same; were it ever to differ, the cost is one harmless extra event.
	if len(cmds) == 0 && bytes.Equal(prevJSON, nextJSON) {
		t.Noop = true
		return t, nil
	}
	for i := range next.Steps {
		p, n := prev.Steps[i], next.Steps[i]
		if !sameStep(p, n) {
			t.Changed = append(t.Changed, i)
		}
		if p.Status == engine.StepQueued && n.Status == engine.StepCancelled && p.Attempt == n.Attempt {
			t.Withdraw = append(t.Withdraw, Command{Kind: CommandStartStep, Step: n.Name, Attempt: n.Attempt})
		}
	}
	for _, c := range cmds {
		oc := outboxCommand(c, e.Time, now)
		if oc.Kind == CommandStartStep && next.Workflow != nil {
			if i := next.Workflow.StepIndex(c.Step); i >= 0 {
				oc.Labels = next.Workflow.Steps[i].RunsOn
			}
		}
		t.Outbox = append(t.Outbox, oc)
	}
	return t, nil
}

// outboxCommand maps an engine command to its outbox entry. Commands to do
// now are available at the store's clock; a retry when its backoff, counted
// from the event that caused it, has elapsed.
func outboxCommand(c engine.Command, eventTime, now time.Time) Command {
	oc := Command{Step: c.Step, Attempt: c.Attempt, Timeout: c.Timeout, Status: c.Status, Reason: c.Reason, AvailableAt: now}
	switch c.Kind {
	case engine.StartStep:
		oc.Kind = CommandStartStep
	case engine.CancelStep:
		oc.Kind = CommandCancelStep
	case engine.ScheduleRetry:
		oc.Kind = CommandRetryDue
		oc.AvailableAt = eventTime.Add(c.Delay)
	case engine.FinishRun:
		oc.Kind = CommandFinishRun
	default:
		oc.Kind = CommandKind(c.Kind) // a newer engine's command: keep it visible
	}
	return oc
}

func sameStep(a, b engine.StepState) bool {
	if (a.ExitCode == nil) != (b.ExitCode == nil) || (a.ExitCode != nil && *a.ExitCode != *b.ExitCode) {
		return false
	}
	a.ExitCode, b.ExitCode = nil, nil
	return a.Name == b.Name && a.Status == b.Status && a.Attempt == b.Attempt && a.Reason == b.Reason &&
		a.QueuedAt.Equal(b.QueuedAt) && a.StartedAt.Equal(b.StartedAt) && a.FinishedAt.Equal(b.FinishedAt)
}

// PreparedRun is what CreateRun writes, computed without I/O.
type PreparedRun struct {
	NewRun
	Workflow  *workflow.Workflow
	State     engine.State
	StateJSON []byte
	Steps     []Step
}

// Prepare parses nr.Source and builds the initial state and step rows.
// A source that does not parse fails with ErrInvalid.
func Prepare(nr NewRun, now time.Time) (PreparedRun, error) {
	if nr.TenantID <= 0 {
		return PreparedRun{}, fmt.Errorf("%w: a run needs a tenant (TenantID is %d)", ErrInvalid, nr.TenantID)
	}
	if nr.RequestedAt.IsZero() {
		nr.RequestedAt = now
	}
	nr.Source = slices.Clone(nr.Source) // the caller may reuse its buffer
	wf, err := workflow.Parse(nr.File, nr.Source)
	if err != nil {
		return PreparedRun{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	st := engine.New(wf, nr.Vars)
	js, err := json.Marshal(st)
	if err != nil {
		return PreparedRun{}, fmt.Errorf("store: encoding run state: %w", err)
	}
	steps := make([]Step, len(st.Steps))
	for i := range st.Steps {
		steps[i] = Step{StepState: st.Steps[i], DependsOn: wf.Steps[i].DependsOn}
	}
	return PreparedRun{NewRun: nr, Workflow: wf, State: st, StateJSON: js, Steps: steps}, nil
}

package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/workflow"
)

// State is everything the engine knows about one run. Steps is aligned with
// Workflow.Steps by index.
type State struct {
	Workflow        *workflow.Workflow `json:"-"`
	Vars            Vars               `json:"vars"`
	Status          RunStatus          `json:"status"`
	Reason          string             `json:"reason,omitempty"` // why the run failed or was cancelled
	Steps           []StepState        `json:"steps"`
	CancelRequested bool               `json:"cancel_requested,omitempty"`
	StartedAt       time.Time          `json:"started_at,omitzero"`
	FinishedAt      time.Time          `json:"finished_at,omitzero"`

	// Failed is set when a step fails without continue_on_error (or its `if`
	// cannot be evaluated): the run will end failed, whatever happens next.
	Failed bool `json:"failed,omitempty"`
	// StopReason is why the remaining steps are being cancelled (fail-fast or
	// cancel); steps that end while the run stops carry it as their Reason.
	StopReason string `json:"stop_reason,omitempty"`

	// idx is derived from Workflow and never mutated, so copies of a State
	// share it. New and Restore set it.
	idx *index
}

// New returns the state of a run of wf that has not been requested yet.
// wf is expected to be validated; if it is not (unknown dependency, cycle,
// duplicate name), Decide reports why on the first event.
func New(wf *workflow.Workflow, vars Vars) State {
	steps := make([]StepState, len(wf.Steps))
	for i := range wf.Steps {
		steps[i] = StepState{Name: wf.Steps[i].Name, Status: StepWaiting}
	}
	return State{Workflow: wf, Vars: vars, Status: RunQueued, Steps: steps, idx: newIndex(wf)}
}

// Restore decodes a State stored as JSON and attaches wf, the workflow the
// run was started from (parsed from the run's stored source).
func Restore(wf *workflow.Workflow, stateJSON []byte) (State, error) {
	var s State
	if err := json.Unmarshal(stateJSON, &s); err != nil {
		return State{}, fmt.Errorf("engine: decoding stored run state: %w", err)
	}
	if len(s.Steps) != len(wf.Steps) {
		return State{}, fmt.Errorf("engine: stored run state has %d steps but the workflow has %d: was it parsed from the run's own source?", len(s.Steps), len(wf.Steps))
	}
	for i := range s.Steps {
		if s.Steps[i].Name != wf.Steps[i].Name {
			return State{}, fmt.Errorf("engine: stored run state has step %q at position %d but the workflow has %q: was it parsed from the run's own source?", s.Steps[i].Name, i+1, wf.Steps[i].Name)
		}
	}
	s.Workflow = wf
	s.idx = newIndex(wf)
	return s, nil
}

// Decide applies one event to s. It never modifies s (or anything s shares);
// it returns the next state and the commands to carry out, in order.
// An event that does not fit the state (unknown step, a stale attempt) is
// either ignored with no commands, or rejected with an error; the returned
// state is then s unchanged. The package documentation lists the rules.
func Decide(s State, e Event) (State, []Command, error) {
	if s.Status.Terminal() {
		return s, nil, nil
	}
	ix, err := s.index()
	if err != nil {
		return s, nil, err
	}
	d := &decider{s: s, ix: ix, now: e.Time}
	var ok bool
	switch e.Kind {
	case RunRequested:
		ok = d.runRequested()
	case CancelRequested:
		ok = d.cancelRequested(e.Reason)
	case StepReused:
		i, found := ix.byName[e.Step]
		if !found {
			return s, nil, fmt.Errorf("engine: %s event names step %q, which is not in workflow %q", e.Kind, e.Step, s.Workflow.Name)
		}
		ok = d.reuse(i, e.Reason)
	case StepStarted, StepExited, StepTimedOut, ExecutorLost, RetryDue:
		i, found := ix.byName[e.Step]
		if !found {
			return s, nil, fmt.Errorf("engine: %s event names step %q, which is not in workflow %q", e.Kind, e.Step, s.Workflow.Name)
		}
		ok = d.stepEvent(i, e)
	default:
		return s, nil, fmt.Errorf("engine: unknown event kind %q (step %q): the event log was written by a newer or broken driver", e.Kind, e.Step)
	}
	if !ok {
		return s, nil, nil
	}
	d.finishIfDone()
	return d.s, d.cmds, nil
}

// Replay rebuilds a run's state from its event log.
func Replay(wf *workflow.Workflow, vars Vars, events []Event) (State, error) {
	s := New(wf, vars)
	for _, e := range events {
		var err error
		if s, _, err = Decide(s, e); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Backoff is the delay before attempt n (2, 3, …): 1s, 2s, 4s, … capped at
// 60s. The first attempt has no delay.
func Backoff(n int) time.Duration {
	const maxDelay = 60 * time.Second
	switch {
	case n < 2:
		return 0
	case n-2 >= 6: // 2^6 s already exceeds the cap; also keeps the shift small
		return maxDelay
	}
	return min(time.Second<<(n-2), maxDelay)
}

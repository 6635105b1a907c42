package engine

import (
	"errors"
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
}

// New returns the state of a run of wf that has not been requested yet.
func New(wf *workflow.Workflow, vars Vars) State {
	panic("TODO")
}

// Decide applies one event to s. It never modifies s (or anything s shares);
// it returns the next state and the commands to carry out, in order.
// An event that does not fit the state (unknown step, a stale attempt) is
// either ignored with no commands, or rejected with an error; the returned
// state is then s unchanged.
func Decide(s State, e Event) (State, []Command, error) {
	return s, nil, errors.New("TODO")
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

package engine

import (
	"time"

	"github.com/runbookhq/runbook/internal/workflow"
)

// StepStatus is where a step stands. The last four are terminal.
type StepStatus string

const (
	StepWaiting   StepStatus = "waiting"   // some dependency is not done yet
	StepQueued    StepStatus = "queued"    // StartStep was issued; the executor has not reported it started
	StepRunning   StepStatus = "running"   // the executor reported it started
	StepRetrying  StepStatus = "retrying"  // an attempt failed; the next waits for its backoff (RetryDue)
	StepSucceeded StepStatus = "succeeded" // exit code 0
	StepFailed    StepStatus = "failed"    // failed with no retries left (continue_on_error may still let dependents run)
	StepSkipped   StepStatus = "skipped"   // its `if` was false; counts as done for its dependents
	StepCancelled StepStatus = "cancelled" // stopped or never started because the run failed or was cancelled
)

// Terminal reports whether the status is final.
func (s StepStatus) Terminal() bool {
	return s == StepSucceeded || s == StepFailed || s == StepSkipped || s == StepCancelled
}

// RunStatus is where a run stands. The last three are terminal.
type RunStatus string

const (
	RunQueued    RunStatus = "queued"  // created; RunRequested not yet applied
	RunRunning   RunStatus = "running" // steps may run
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
)

// Terminal reports whether the status is final.
func (s RunStatus) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// EventKind names what happened.
type EventKind string

const (
	RunRequested    EventKind = "run_requested"    // start the run
	StepStarted     EventKind = "step_started"     // Step/Attempt began executing
	StepExited      EventKind = "step_exited"      // Step/Attempt ended with ExitCode
	StepTimedOut    EventKind = "step_timed_out"   // Step/Attempt exceeded its timeout and was stopped
	CancelRequested EventKind = "cancel_requested" // a person or the system asked the run to stop (Reason)
	ExecutorLost    EventKind = "executor_lost"    // Step/Attempt's executor vanished (crash, lost lease); Reason says why
	RetryDue        EventKind = "retry_due"        // Step's backoff has elapsed; start Attempt
	StepReused      EventKind = "step_reused"      // before RunRequested: Step succeeded in an earlier run (Reason says which) and is not run again
)

// Event is one fact about a run. Events are appended to the run's log in the
// order Decide sees them.
type Event struct {
	Kind     EventKind `json:"kind"`
	Time     time.Time `json:"time"`
	Step     string    `json:"step,omitempty"`
	Attempt  int       `json:"attempt,omitempty"`
	ExitCode int       `json:"exit_code,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	// LostRetries, on ExecutorLost, is how many lost attempts of a step
	// the system retries on its own, apart from the step's retries (the
	// driver's setting, e.g. --lost-retries). It travels on the event so
	// that replaying the log decides the same.
	LostRetries int `json:"lost_retries,omitempty"`
}

// CommandKind names what the driver must do.
type CommandKind string

const (
	StartStep     CommandKind = "start_step"     // run Step's Attempt, stopping it after Timeout
	CancelStep    CommandKind = "cancel_step"    // stop Step's Attempt (SIGTERM, grace, SIGKILL)
	ScheduleRetry CommandKind = "schedule_retry" // after Delay, send RetryDue for Step/Attempt
	FinishRun     CommandKind = "finish_run"     // the run ended with Status; issued exactly once
)

// Command is one action Decide asks the driver to carry out.
type Command struct {
	Kind    CommandKind   `json:"kind"`
	Step    string        `json:"step,omitempty"`
	Attempt int           `json:"attempt,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Delay   time.Duration `json:"delay,omitempty"`
	Status  RunStatus     `json:"status,omitempty"`
	Reason  string        `json:"reason,omitempty"`
}

// StepState is the engine's view of one step.
type StepState struct {
	Name       string     `json:"name"`
	Status     StepStatus `json:"status"`
	Attempt    int        `json:"attempt"`             // current or last attempt, 1-based; 0 before the first
	Lost       int        `json:"lost,omitempty"`      // attempts lost with their executor and retried by the system (not counted against retries)
	ExitCode   *int       `json:"exit_code,omitempty"` // of the last finished attempt
	Reason     string     `json:"reason,omitempty"`    // why it failed, was skipped, cancelled or retried
	QueuedAt   time.Time  `json:"queued_at,omitzero"`
	StartedAt  time.Time  `json:"started_at,omitzero"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
}

// Vars are the values `if` expressions see besides step statuses.
type Vars = workflow.Vars

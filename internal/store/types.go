package store

import (
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/workflow"
)

// Tenant owns runs. A user or an organization; accounts come later.
type Tenant struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// NewRun is what CreateRun needs.
type NewRun struct {
	TenantID    int64
	ProjectID   int64         // 0: no project
	File        string        // the workflow's file name, e.g. ".runbook.yml"
	Source      []byte        // the exact bytes of the file; kept forever
	Vars        workflow.Vars // branch, event, sha, repo, env
	Trigger     string        // what asked for the run: "push", "api", "manual", ...
	RequestedAt time.Time     // zero: the store's clock
	// Reused and ReusedReason: CreateAndAdmit marks these steps succeeded
	// (engine.StepReused) before the run is requested. CreateRun ignores them.
	Reused       []string
	ReusedReason string
	// ReusedFrom is the run whose succeeded steps are reused (0: none).
	// The store keeps nothing of it; the scheduler starts the new run's
	// workspace from a copy of that run's, where the reused steps left
	// their files.
	ReusedFrom int64
	// LinkKey, when set, is the key of the forge link (githubapp.RunLink)
	// the run belongs to. The store points the link at the new run in the
	// run's own transaction: its first step may start (on any process)
	// before the caller hears back, and must find its repository then.
	LinkKey string
	// Committed, when set, is called by CreateAndAdmit as soon as the run
	// and its admission are committed, before the run is read back: the
	// scheduler wakes its claim loop there, so the first step does not wait
	// for that read.
	Committed func()
}

// Run is a run's projection: its status as of its last applied event.
type Run struct {
	ID        int64
	TenantID  int64
	ProjectID int64
	File      string
	Source    []byte // only from GetRun
	Vars      workflow.Vars
	Trigger   string
	Status    engine.RunStatus
	Reason    string // the engine's; for a waiting run, why it waits
	// Admission: a queued run created by CreateAndAdmit is pending or
	// blocked until admitted; Position is its place in the pending line
	// (1 is next), from GetRun only.
	Admission   quota.Admission
	Position    int
	RequestedAt time.Time
	CreatedAt   time.Time
	StartedAt   time.Time // zero until RunRequested is applied
	FinishedAt  time.Time // zero until the run ends
	LastSeq     int64     // Seq of the last logged event; 0 before any
	Steps       []Step    // in file order; from GetRun and RunsInProgress
}

// Step is one step's projection, with its dependencies so readers can draw
// the DAG without parsing the source.
type Step struct {
	engine.StepState
	DependsOn []string
	// WaitingReason says why a queued step is not taken, e.g. "no worker
	// with labels arch=arm64" (MarkWaiting keeps it); "" otherwise.
	WaitingReason string
}

// RunFilter narrows ListRuns. Zero fields match everything.
type RunFilter struct {
	Status    engine.RunStatus
	ProjectID int64
	Branch    string
}

// Page asks for one page of a list. Limit 0 means DefaultLimit; above
// MaxLimit it is capped.
type Page struct {
	Limit  int
	Cursor string // "" for the first page, else a previous RunPage.Next
}

// Page size bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// RunPage is one page of runs.
type RunPage struct {
	Runs []Run
	Next string // cursor of the next page; "" when this is the last
}

// Event is one entry of a run's append-only event log.
type Event struct {
	Seq   int64 // 1, 2, 3, ... per run, without gaps
	RunID int64
	engine.Event
}

// CommandKind names an outbox command.
type CommandKind string

// The outbox commands. They mirror engine.CommandKind, except that
// engine.ScheduleRetry is stored as a RetryDue wake-up that becomes
// available when the backoff has elapsed.
const (
	CommandStartStep  CommandKind = "start_step"  // run Step's Attempt, stopping it after Timeout
	CommandCancelStep CommandKind = "cancel_step" // stop Step's Attempt
	CommandRetryDue   CommandKind = "retry_due"   // apply engine.RetryDue for Step/Attempt
	CommandFinishRun  CommandKind = "finish_run"  // the run ended with Status
)

// Command is one outbox entry, as handed to a claimer.
type Command struct {
	ID          int64
	RunID       int64
	TenantID    int64
	Kind        CommandKind
	Step        string
	Attempt     int
	Timeout     time.Duration    // start_step
	Status      engine.RunStatus // finish_run
	Reason      string
	AvailableAt time.Time
	Owner       string    // who holds the lease
	LeaseUntil  time.Time // when the lease expires
	Claims      int       // how many times it was handed out, this one included
	// PrevOwner held the lease before this claim: set when the command is
	// handed out again after its lease expired (or was released).
	PrevOwner string
	// Labels a claimer must have to take this start_step (the step's
	// runs_on); nil means any.
	Labels map[string]string
}

// Stats is a snapshot for metrics.
type Stats struct {
	RunsByStatus map[engine.RunStatus]int64
	CommandsDue  int64 // outbox commands available now and not done
}

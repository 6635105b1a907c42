// Package executor is the contract between the engine's driver and the
// things that run a step's command: local processes or Kubernetes Jobs.
package executor

import (
	"context"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/workflow"
)

// Spec is everything an executor needs to run one attempt of a step.
type Spec struct {
	RunID     string
	Step      string
	Attempt   int // 1-based
	Command   string
	Env       map[string]string // global env overlaid with step env; the executor adds PATH, HOME and RUNBOOK_*
	Workspace string            // working directory of the command
	Timeout   time.Duration     // 0 means none
	// Network is the step's `network:` setting: "" or "default" keeps the
	// runner's network, "none" leaves the step only a loopback interface.
	Network string
	// Kubernetes is the step's `kubernetes:` settings (nil when none); only
	// the Kubernetes executor reads them.
	Kubernetes *workflow.Kubernetes
}

// Sink receives a step's output as numbered lines. WriteLine is called from
// one goroutine at a time, in line-number order; l.Text is only valid during
// the call, so a sink that keeps it must copy it.
type Sink interface {
	WriteLine(l logline.Line) error
}

// Result is how an attempt ended.
type Result struct {
	ExitCode  int   // the command's exit code; -1 when it was killed by a signal or never started
	TimedOut  bool  // the step exceeded Spec.Timeout and was stopped
	Cancelled bool  // ctx was cancelled and the step was stopped
	Err       error // the step could not be started or watched (not a non-zero exit)
}

// Executor runs step attempts.
//
// Run blocks until the attempt has ended and every process (or pod) it
// started is gone. Cancelling ctx stops the attempt: the executor asks it to
// stop (SIGTERM), waits a grace period, then forces it (SIGKILL), and returns
// with Cancelled set. Run is safe to call from many goroutines at once.
type Executor interface {
	Run(ctx context.Context, spec Spec, sink Sink) Result
}

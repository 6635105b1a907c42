// Package attempt is what both drivers of the engine do for one attempt
// of a step, written once: runner (`runbook run`) and scheduler (the
// server and workers). It builds the attempt's executor.Spec and
// environment, runs it with its secrets masked and its log created at the
// first line, and turns the result into the event the engine hears.
package attempt

import (
	"context"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/mask"
	"github.com/runbookhq/runbook/internal/workflow"
)

// Spec is attempt n of step i of wf in run runID: its command, its
// environment (see Env), its workspace and timeout, and its kubernetes:
// settings, all read from the run's own workflow.
func Spec(wf *workflow.Workflow, i int, runEnv map[string]string, runID string, n int, workspace string, timeout time.Duration) executor.Spec {
	return executor.Spec{
		RunID:      runID,
		Step:       wf.Steps[i].Name,
		Attempt:    n,
		Command:    wf.Steps[i].Command,
		Env:        Env(wf, i, runEnv),
		Workspace:  workspace,
		Timeout:    timeout,
		Kubernetes: wf.Steps[i].Kubernetes,
		Network:    wf.Steps[i].Network,
	}
}

// Env is step i's environment: the workflow's global env, overlaid with
// the run's variables (`runbook run --env`, a trigger's env), then the
// step's own env, which wins.
func Env(wf *workflow.Workflow, i int, runEnv map[string]string) map[string]string {
	env := wf.StepEnv(i)
	for k, v := range runEnv {
		if _, own := wf.Steps[i].Env[k]; !own {
			env[k] = v
		}
	}
	return env
}

// Logs is where attempts' logs are kept.
type Logs interface {
	Create(k logstore.Key) (*logstore.Writer, error)
}

// Run runs spec with exe. Every line, with the values of secret-looking
// variables of spec.Env masked, goes to the attempt's log in logs (created
// at the first line, so a silent step costs no file; nil logs keeps none)
// and then to each of also. logErr is the log's first failure: remembered,
// never the step's, since the step's work matters more than its log.
func Run(ctx context.Context, exe executor.Executor, spec executor.Spec, logs Logs, also ...executor.Sink) (res executor.Result, logErr error) {
	l := &lazyLog{logs: logs, key: logstore.Key{Run: spec.RunID, Step: spec.Step, Attempt: spec.Attempt}, also: also}
	res = exe.Run(ctx, spec, mask.Sink(l, mask.FromEnv(spec.Env)))
	return res, l.close()
}

// Event is the engine event that ends the attempt spec with res: timed out,
// failed to start or be watched (exit -1 with why), or exited; a log that
// failed is named in the reason of an exit.
func Event(spec executor.Spec, res executor.Result, logErr error) engine.Event {
	e := engine.Event{Kind: engine.StepExited, Time: time.Now(), Step: spec.Step, Attempt: spec.Attempt, ExitCode: res.ExitCode}
	switch {
	case res.TimedOut:
		e.Kind, e.ExitCode = engine.StepTimedOut, 0
	case res.Err != nil:
		e.ExitCode, e.Reason = -1, res.Err.Error()
	case logErr != nil:
		e.Reason = "log store: " + logErr.Error()
	}
	return e
}

// lazyLog writes each line to the attempt's log, created at the first
// line, then to the other sinks.
type lazyLog struct {
	logs Logs
	key  logstore.Key
	w    *logstore.Writer
	err  error
	also []executor.Sink
}

func (l *lazyLog) WriteLine(line logline.Line) error {
	if l.w == nil && l.logs != nil && l.err == nil {
		l.w, l.err = l.logs.Create(l.key)
	}
	if l.w != nil && l.err == nil {
		l.err = l.w.WriteLine(line)
	}
	for _, s := range l.also {
		s.WriteLine(line)
	}
	return nil
}

func (l *lazyLog) close() error {
	if l.w != nil {
		if err := l.w.Close(); err != nil && l.err == nil {
			l.err = err
		}
	}
	return l.err
}

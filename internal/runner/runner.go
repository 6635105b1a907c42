// Package runner drives one run in memory: it feeds events to engine.Decide,
// carries out the commands it returns with an executor, and stores step
// output in the log store. `runbook run` uses it; the server has its own
// durable driver over the same engine.
package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/mask"
	"github.com/runbookhq/runbook/internal/workflow"
)

// LogStore is the part of the log store the runner writes to. A step that
// prints nothing has no log: readers treat logstore.ErrNotFound as empty.
type LogStore interface {
	Create(k logstore.Key) (*logstore.Writer, error)
}

// Observer hears about a run as it happens. Its methods are called from the
// runner's goroutines; StepChanged and RunFinished from one at a time, Line
// from the step's output reader.
type Observer interface {
	// StepChanged is called after every change of a step's status.
	StepChanged(s engine.StepState)
	// Line is called for every line a step prints; l.Text is only valid during the call.
	Line(step string, attempt int, l logline.Line)
	// RunFinished is called once, with the final state.
	RunFinished(s engine.State)
}

// Config is what one run needs.
type Config struct {
	RunID     string
	Workspace string
	Vars      workflow.Vars
	Executor  executor.Executor
	Logs      LogStore // nil keeps no logs
	Observer  Observer // nil observes nothing
}

// Result is a finished run.
type Result struct {
	State  engine.State
	Events []engine.Event // the run's event log, in the order Decide saw it
}

// Run runs wf to its end. Cancelling ctx cancels the run the engine's way:
// running steps are stopped, and Run returns once every step is terminal.
// The error is non-nil only when the engine rejected an event, which is a bug.
func Run(ctx context.Context, wf *workflow.Workflow, cfg Config) (Result, error) {
	d := &driver{
		wf:      wf,
		cfg:     cfg,
		events:  make(chan envelope, 64),
		done:    make(chan struct{}),
		cancels: map[string]context.CancelFunc{},
	}
	defer d.closeDone()
	return d.loop(ctx)
}

// envelope carries an event to the loop; applied, when set, is closed once
// the loop has applied it.
type envelope struct {
	e       engine.Event
	applied chan struct{}
}

type driver struct {
	wf      *workflow.Workflow
	cfg     Config
	events  chan envelope
	done    chan struct{} // closed when Run returns, so late timers never block
	once    sync.Once
	cancels map[string]context.CancelFunc // by step name, for the running attempt
	timers  []*time.Timer
	wg      sync.WaitGroup
}

func (d *driver) loop(ctx context.Context) (Result, error) {
	state := engine.New(d.wf, d.cfg.Vars)
	var log []engine.Event
	pending := []engine.Event{{Kind: engine.RunRequested, Time: time.Now()}}
	cancelled := false
	defer d.stopTimers()

	for !state.Status.Terminal() {
		var e engine.Event
		var applied chan struct{}
		if len(pending) > 0 {
			e, pending = pending[0], pending[1:]
		} else {
			done := ctx.Done()
			if cancelled {
				done = nil
			}
			select {
			case env := <-d.events:
				e, applied = env.e, env.applied
			case <-done:
				cancelled = true
				e = engine.Event{Kind: engine.CancelRequested, Time: time.Now(), Reason: cancelReason(ctx)}
			}
		}
		next, cmds, err := engine.Decide(state, e)
		if err != nil {
			d.abort()
			return Result{State: state, Events: log}, fmt.Errorf("engine rejected %s: %w", e.Kind, err)
		}
		log = append(log, e)
		d.notify(state, next)
		state = next
		if applied != nil {
			close(applied)
		}
		for _, c := range cmds {
			d.carryOut(ctx, c)
		}
	}
	// Every step is terminal, so every executor call has returned or is
	// returning; wait so no goroutine outlives the run.
	d.wg.Wait()
	if d.cfg.Observer != nil {
		d.cfg.Observer.RunFinished(state)
	}
	return Result{State: state, Events: log}, nil
}

func cancelReason(ctx context.Context) string {
	if cause := context.Cause(ctx); cause != nil && cause != context.Canceled {
		return cause.Error()
	}
	return "cancelled"
}

// notify reports every step whose status or attempt changed.
func (d *driver) notify(prev, next engine.State) {
	if d.cfg.Observer == nil {
		return
	}
	for i := range next.Steps {
		if i >= len(prev.Steps) || prev.Steps[i].Status != next.Steps[i].Status || prev.Steps[i].Attempt != next.Steps[i].Attempt {
			d.cfg.Observer.StepChanged(next.Steps[i])
		}
	}
}

func (d *driver) carryOut(ctx context.Context, c engine.Command) {
	switch c.Kind {
	case engine.StartStep:
		d.start(c)
	case engine.CancelStep:
		if cancel, ok := d.cancels[c.Step]; ok {
			cancel()
		}
	case engine.ScheduleRetry:
		step, attempt := c.Step, c.Attempt
		d.timers = append(d.timers, time.AfterFunc(c.Delay, func() {
			d.send(engine.Event{Kind: engine.RetryDue, Time: time.Now(), Step: step, Attempt: attempt})
		}))
	case engine.FinishRun:
		// The loop ends on the terminal state; nothing to carry out in memory.
	}
}

// send delivers an event from a step goroutine or timer to the loop. A run
// cannot end while a step goroutine still owes it an event, but a retry timer
// may fire after the end.
func (d *driver) send(e engine.Event) { d.sendAndWait(e, nil) }

// sendAndWait is send that also waits until the loop has applied e and told
// the observer, when applied is not nil.
func (d *driver) sendAndWait(e engine.Event, applied chan struct{}) {
	select {
	case d.events <- envelope{e, applied}:
	case <-d.done:
		return
	}
	if applied != nil {
		select {
		case <-applied:
		case <-d.done:
		}
	}
}

func (d *driver) stopTimers() {
	for _, t := range d.timers {
		t.Stop()
	}
}

func (d *driver) closeDone() { d.once.Do(func() { close(d.done) }) }

// abort stops every step after an engine error; nothing reads events then.
func (d *driver) abort() {
	for _, cancel := range d.cancels {
		cancel()
	}
	d.closeDone()
	d.wg.Wait()
}

func (d *driver) start(c engine.Command) {
	i := d.wf.StepIndex(c.Step)
	step := d.wf.Steps[i]
	spec := executor.Spec{
		RunID:     d.cfg.RunID,
		Step:      step.Name,
		Attempt:   c.Attempt,
		Command:   step.Command,
		Env:       d.stepEnv(i),
		Workspace: d.cfg.Workspace,
		Timeout:   c.Timeout,
		Network:   step.Network,
	}
	// Steps are cancelled only through CancelStep, so their context does not
	// derive from the run's: a Ctrl-C reaches them via the engine.
	stepCtx, cancel := context.WithCancel(context.Background())
	d.cancels[c.Step] = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		// Wait until the loop has applied StepStarted, so observers hear
		// "started" before the step's first line.
		applied := make(chan struct{})
		d.sendAndWait(engine.Event{Kind: engine.StepStarted, Time: time.Now(), Step: spec.Step, Attempt: spec.Attempt}, applied)
		res, logErr := d.execute(stepCtx, spec)
		e := engine.Event{Time: time.Now(), Step: spec.Step, Attempt: spec.Attempt}
		switch {
		case res.TimedOut:
			e.Kind = engine.StepTimedOut
		case res.Err != nil:
			e.Kind, e.ExitCode, e.Reason = engine.StepExited, -1, res.Err.Error()
		default:
			e.Kind, e.ExitCode = engine.StepExited, res.ExitCode
			if logErr != nil {
				e.Reason = "log store: " + logErr.Error()
			}
		}
		d.send(e)
	}()
}

// stepEnv is the step's environment: global env (with --env) and step env.
func (d *driver) stepEnv(i int) map[string]string {
	env := d.wf.StepEnv(i)
	for k, v := range d.cfg.Vars.Env {
		if _, own := d.wf.Steps[i].Env[k]; !own {
			env[k] = v
		}
	}
	return env
}

func (d *driver) execute(ctx context.Context, spec executor.Spec) (executor.Result, error) {
	sink := &teeSink{
		step: spec.Step, attempt: spec.Attempt, obs: d.cfg.Observer,
		logs: d.cfg.Logs, key: logstore.Key{Run: spec.RunID, Step: spec.Step, Attempt: spec.Attempt},
	}
	// Mask the values of secret-looking env vars before logs and the terminal.
	res := d.cfg.Executor.Run(ctx, spec, mask.Sink(sink, mask.FromEnv(spec.Env)))
	var err error
	if sink.w != nil {
		err = sink.w.Close()
	}
	if err == nil {
		err = sink.err
	}
	return res, err
}

// teeSink sends each line to the log store and the observer. The log is
// created at the first line: a silent step costs no file (creating one costs
// about a millisecond on ext4, as much as running `true`). A log store
// failure is remembered, not fatal: the step's work matters more than its log.
type teeSink struct {
	step    string
	attempt int
	logs    LogStore
	key     logstore.Key
	w       *logstore.Writer
	obs     Observer
	err     error
}

func (t *teeSink) WriteLine(l logline.Line) error {
	if t.w == nil && t.logs != nil && t.err == nil {
		t.w, t.err = t.logs.Create(t.key)
	}
	if t.w != nil && t.err == nil {
		t.err = t.w.WriteLine(l)
	}
	if t.obs != nil {
		t.obs.Line(t.step, t.attempt, l)
	}
	return nil
}

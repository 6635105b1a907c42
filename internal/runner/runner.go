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

	"github.com/runbookhq/runbook/internal/attempt"
	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/workflow"
)

// LogStore is the part of the log store the runner writes to. A step that
// prints nothing has no log: readers treat logstore.ErrNotFound as empty.
type LogStore = attempt.Logs

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
// the loop has applied it, and running then says whether the step is running
// at the event's attempt.
type envelope struct {
	e       engine.Event
	applied chan struct{}
	running *bool
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
		var running *bool
		if len(pending) > 0 {
			e, pending = pending[0], pending[1:]
		} else {
			done := ctx.Done()
			if cancelled {
				done = nil
			}
			select {
			case env := <-d.events:
				e, applied, running = env.e, env.applied, env.running
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
		if running != nil {
			i := d.wf.StepIndex(e.Step)
			*running = i >= 0 && next.Steps[i].Status == engine.StepRunning && next.Steps[i].Attempt == e.Attempt
		}
		if applied != nil {
			close(applied)
		}
		for _, c := range cmds {
			d.carryOut(ctx, c)
		}
	}
	// Every step is terminal, so every executor call has returned or is
	// returning; wait so no goroutine outlives the run. A step cancelled
	// while queued may still be sending its StepStarted: done releases it.
	d.closeDone()
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
func (d *driver) send(e engine.Event) { d.sendAndWait(e, nil, nil) }

// sendAndWait is send that also waits until the loop has applied e and told
// the observer, when applied is not nil.
func (d *driver) sendAndWait(e engine.Event, applied chan struct{}, running *bool) {
	select {
	case d.events <- envelope{e, applied, running}:
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
	spec := attempt.Spec(d.wf, d.wf.StepIndex(c.Step), d.cfg.Vars.Env, d.cfg.RunID, c.Attempt, d.cfg.Workspace, c.Timeout)
	// Steps are cancelled only through CancelStep, so their context does not
	// derive from the run's: a Ctrl-C reaches them via the engine.
	stepCtx, cancel := context.WithCancel(context.Background())
	d.cancels[c.Step] = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		// Wait until the loop has applied StepStarted, so observers hear
		// "started" before the step's first line. A step the engine
		// cancelled while it was queued is not started: its attempt has
		// ended already.
		applied, running := make(chan struct{}), false
		d.sendAndWait(engine.Event{Kind: engine.StepStarted, Time: time.Now(), Step: spec.Step, Attempt: spec.Attempt}, applied, &running)
		if !running {
			return
		}
		var also []executor.Sink
		if d.cfg.Observer != nil {
			also = append(also, observed{spec.Step, spec.Attempt, d.cfg.Observer})
		}
		var logs attempt.Logs
		if d.cfg.Logs != nil {
			logs = d.cfg.Logs
		}
		res, logErr := attempt.Run(stepCtx, d.cfg.Executor, spec, logs, also...)
		d.send(attempt.Event(spec, res, logErr))
	}()
}

// observed hands a step's lines to the Observer.
type observed struct {
	step    string
	attempt int
	obs     Observer
}

func (o observed) WriteLine(l logline.Line) error {
	o.obs.Line(o.step, o.attempt, l)
	return nil
}

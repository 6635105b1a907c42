package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/mask"
	"github.com/runbookhq/runbook/internal/store"
)

// Why a step's context was cancelled.
var (
	errCancelled = errors.New("the engine cancelled the step")
	errLeaseLost = errors.New("the outbox lease was lost")
)

// shutdownCause stops a step whose grace period ended; its text is the
// reason recorded with ExecutorLost.
type shutdownCause struct {
	grace time.Duration
	role  string // "server" or "worker"
}

func (c shutdownCause) Error() string {
	return fmt.Sprintf("the %s shut down before the step finished (grace period %v ended)", c.role, c.grace)
}

// task is one start_step command in hand: claimed, maybe waiting for a slot,
// maybe running.
type task struct {
	cmd    store.Command
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	pgid    int  // the running attempt's process group; 0 before and after
	started bool // past the point where shutdown may drop it

	// ending: the attempt's end is being recorded, after which its command
	// is done; a heartbeat that finds it done then has lost nothing.
	ending atomic.Bool
}

func newTask(c store.Command) *task {
	// A step's context does not derive from any request's: it ends only by
	// cancel_step, a lost lease or shutdown.
	ctx, cancel := context.WithCancelCause(context.Background())
	return &task{cmd: c, ctx: ctx, cancel: cancel}
}

// startStep runs one start_step command to its end.
func (s *Scheduler) startStep(c store.Command) {
	key := taskKey{c.RunID, c.Step, c.Attempt}
	s.mu.Lock()
	t := s.tasks[key]
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.tasks, key)
		s.mu.Unlock()
		t.cancel(nil)
	}()
	hbDone := make(chan struct{})
	defer close(hbDone)
	go s.heartbeat(t, hbDone)
	if s.takenOver(c) {
		return
	}

	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-t.ctx.Done():
		s.leaveUnstarted(t)
		return
	}
	t.mu.Lock()
	if s.stopping.Load() || t.ctx.Err() != nil {
		t.mu.Unlock()
		t.cancel(errNotStarted) // keeps an earlier cause
		s.leaveUnstarted(t)
		return
	}
	t.started = true
	t.mu.Unlock()

	ws := filepath.Join(workspaceRoot(s.cfg.DataDir), strconv.FormatInt(c.RunID, 10))
	if err := os.MkdirAll(ws, 0o755); err != nil {
		s.finishStep(t, engine.Event{Kind: engine.StepExited, ExitCode: -1,
			Reason: fmt.Sprintf("creating the step's workspace %s: %v", ws, err)})
		return
	}
	started := engine.Event{Kind: engine.StepStarted, Time: time.Now(), Step: c.Step, Attempt: c.Attempt}
	st, err := s.applyDurable(c.RunID, started)
	if err != nil {
		if permanent(err) { // the run is gone or the engine refuses: nothing to run
			s.log.Error("could not start step", "run", c.RunID, "step", c.Step, "attempt", c.Attempt, "err", err)
			s.complete(c)
		}
		return
	}
	i := st.Workflow.StepIndex(c.Step)
	if i < 0 || st.Steps[i].Attempt != c.Attempt || st.Steps[i].Status != engine.StepRunning ||
		!st.Steps[i].StartedAt.Equal(started.Time.UTC().Truncate(time.Microsecond)) {
		// Stale: the attempt was lost, cancelled or ended before this claim.
		s.complete(c)
		return
	}
	if st.StopReason != "" {
		// The run began stopping before the step started (its cancel_step may
		// already be done): end the attempt without running anything.
		s.finishStep(t, engine.Event{Kind: engine.StepExited, ExitCode: -1, Reason: st.StopReason})
		return
	}

	spec := executor.Spec{
		RunID:     strconv.FormatInt(c.RunID, 10),
		Step:      c.Step,
		Attempt:   c.Attempt,
		Command:   st.Workflow.Steps[i].Command,
		Env:       stepEnv(st, i),
		Workspace: ws,
		Timeout:   c.Timeout,
		// Read from the run's own workflow, like Command.
		Kubernetes: st.Workflow.Steps[i].Kubernetes,
		Network:    st.Workflow.Steps[i].Network,
	}
	if err := s.addStepEnv(t.ctx, c.RunID, spec.Env); err != nil {
		s.finishStep(t, engine.Event{Kind: engine.StepExited, ExitCode: -1, Reason: "preparing the step's environment: " + err.Error()})
		return
	}
	sink := &logSink{logs: s.cfg.Logs, tee: s.cfg.LogTee, log: s.log, key: logstore.RunKey(c.RunID, c.Step, c.Attempt)}
	// Every secret the run knows is masked before a line is stored.
	res := s.cfg.Executor.Run(t.ctx, spec, mask.Sink(sink, mask.FromEnv(spec.Env)))
	t.mu.Lock()
	t.pgid = 0 // the group is gone: its id may be reused from now on
	t.mu.Unlock()
	s.removeRecord(spec)
	logErr := sink.close()
	if logErr != nil {
		s.log.Warn("step log incomplete", "run", c.RunID, "step", c.Step, "attempt", c.Attempt, "err", logErr)
	}
	s.finishStep(t, outcome(t, res, logErr))
}

// leaveUnstarted handles a task stopped before it got a slot. Only a
// cancel_step completes it: on a lost lease another owner has it, and on
// shutdown the command is released so another scheduler (or the next
// start) runs the step, which is still queued, without waiting for the
// lease.
func (s *Scheduler) leaveUnstarted(t *task) {
	switch cause := context.Cause(t.ctx); {
	case errors.Is(cause, errCancelled):
		s.finishStep(t, engine.Event{Kind: engine.StepExited, ExitCode: -1, Reason: "cancelled before it started"})
	case errors.Is(cause, errNotStarted):
		ctx, cancel := context.WithTimeout(s.force, 5*time.Second)
		defer cancel()
		if err := s.cfg.Store.ReleaseCommand(ctx, t.cmd.ID, s.cfg.Owner); err != nil {
			s.log.Warn("could not release an unstarted step; it waits for its lease to expire", "run", t.cmd.RunID, "step", t.cmd.Step, "err", err)
		}
	}
}

// outcome turns an executor result into the event the engine hears.
func outcome(t *task, res executor.Result, logErr error) engine.Event {
	e := engine.Event{Kind: engine.StepExited, ExitCode: res.ExitCode}
	switch cause := context.Cause(t.ctx); {
	case res.Cancelled && errors.As(cause, new(shutdownCause)):
		e = engine.Event{Kind: engine.ExecutorLost, Reason: cause.Error()}
	case res.TimedOut:
		e = engine.Event{Kind: engine.StepTimedOut}
	case res.Err != nil:
		e.ExitCode, e.Reason = -1, res.Err.Error()
	case logErr != nil:
		e.Reason = "log store: " + logErr.Error()
	}
	return e
}

// finishStep applies the attempt's end and completes its command, unless
// the lease was lost: then another owner holds the command and decides.
func (s *Scheduler) finishStep(t *task, e engine.Event) {
	c := t.cmd
	if errors.Is(context.Cause(t.ctx), errLeaseLost) {
		s.log.Warn("lease lost while the step ran; its result is dropped", "run", c.RunID, "step", c.Step, "attempt", c.Attempt)
		return
	}
	e.Time, e.Step, e.Attempt = time.Now(), c.Step, c.Attempt
	t.ending.Store(true)
	st, err := s.applyDurable(c.RunID, e)
	if err != nil && !permanent(err) {
		s.log.Error("the step's result could not be recorded before shutdown; the next start marks it lost",
			"run", c.RunID, "step", c.Step, "attempt", c.Attempt, "err", err)
		return
	}
	if err == nil {
		s.observeAttempt(st, c.Step, e.Time)
		if st.Status.Terminal() {
			s.runEnded(c.RunID)
		}
	}
	s.complete(c)
}

// runCollector is an executor that keeps objects per run (the Kubernetes
// executor's owner ConfigMap) until told the run ended.
type runCollector interface {
	DeleteRun(ctx context.Context, runID string) error
}

// runEnded lets the executor collect what it kept for the run. Only the
// process that applies a run's last step outcome calls it; a run that ends
// elsewhere leaves its objects to a later collection.
func (s *Scheduler) runEnded(runID int64) {
	rc, ok := s.cfg.Executor.(runCollector)
	if !ok {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.force), time.Minute)
		defer cancel()
		if err := rc.DeleteRun(ctx, strconv.FormatInt(runID, 10)); err != nil {
			s.log.Warn("collecting the run's executor objects failed", "run", runID, "err", err)
		}
	}()
}

// heartbeat renews t's lease every Lease/3 until done. Losing the lease
// stops the step: another owner may run it now.
func (s *Scheduler) heartbeat(t *task, done <-chan struct{}) {
	tick := time.NewTicker(s.cfg.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(s.force, s.cfg.Lease/3)
		err := s.cfg.Store.ExtendLease(ctx, t.cmd.ID, s.cfg.Owner, s.cfg.Lease)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, store.ErrNotFound) && t.ending.Load():
			return // done by our own finishStep, between the tick and done
		case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
			s.log.Warn("lease lost; stopping the step", "run", t.cmd.RunID, "step", t.cmd.Step, "attempt", t.cmd.Attempt, "err", err)
			t.cancel(errLeaseLost)
			return
		default:
			s.log.Warn("renewing a lease failed; will retry", "run", t.cmd.RunID, "step", t.cmd.Step, "err", err)
		}
	}
}

// stepEnv is global env overlaid with the run's env vars, then the step's
// own env, as `runbook run` does.
func stepEnv(st engine.State, i int) map[string]string {
	env := st.Workflow.StepEnv(i)
	for k, v := range st.Vars.Env {
		if _, own := st.Workflow.Steps[i].Env[k]; !own {
			env[k] = v
		}
	}
	return env
}

// LogTee opens a second destination for an attempt's masked lines: in
// distributed mode, the shared log store that other processes read. The
// sink it returns must not wait on I/O in WriteLine; its failures are
// logged, never the step's.
type LogTee func(k logstore.Key) (TeeSink, error)

// TeeSink is one attempt's copy of its log; Close ends it.
type TeeSink interface {
	WriteLine(l logline.Line) error
	Close() error
}

// logSink creates the step's log at its first line, so a silent step costs
// no file. A log store failure is remembered, not fatal: the step's work
// matters more than its log.
type logSink struct {
	logs *logstore.Store
	key  logstore.Key
	w    *logstore.Writer
	err  error

	tee    LogTee
	log    *slog.Logger
	tw     TeeSink
	teeErr error // the first failure of the copy; later ones are not logged
}

func (l *logSink) WriteLine(line logline.Line) error {
	l.teeLine(line)
	if l.logs == nil || l.err != nil {
		return nil
	}
	if l.w == nil {
		if l.w, l.err = l.logs.Create(l.key); l.err != nil {
			return nil
		}
	}
	l.err = l.w.WriteLine(line)
	return nil
}

func (l *logSink) teeLine(line logline.Line) {
	if l.tee == nil || l.teeErr != nil {
		return
	}
	if l.tw == nil {
		if l.tw, l.teeErr = l.tee(l.key); l.teeErr != nil {
			l.log.Warn("could not copy the step log to the shared log store", "run", l.key.Run, "step", l.key.Step, "attempt", l.key.Attempt, "err", l.teeErr)
			return
		}
	}
	if l.teeErr = l.tw.WriteLine(line); l.teeErr != nil {
		l.log.Warn("copying the step log to the shared log store failed", "run", l.key.Run, "step", l.key.Step, "attempt", l.key.Attempt, "err", l.teeErr)
	}
}

func (l *logSink) close() error {
	if l.tw != nil {
		if err := l.tw.Close(); err != nil {
			l.log.Warn("the shared log store may lack lines of the step log", "run", l.key.Run, "step", l.key.Step, "attempt", l.key.Attempt, "err", err)
		}
	}
	if l.w != nil {
		if err := l.w.Close(); err != nil && l.err == nil {
			l.err = err
		}
	}
	return l.err
}

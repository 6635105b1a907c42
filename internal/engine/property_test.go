package engine

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/workflow"
	"pgregory.net/rapid"
)

// TestMain raises rapid's default from 100 to 1000 cases unless
// -rapid.checks or RAPID_CHECKS says otherwise.
func TestMain(m *testing.M) {
	flag.Parse()
	set := os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		if err := flag.Set("rapid.checks", "1000"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// genWorkflow draws a DAG of up to 25 steps whose edges point from lower to
// higher index, with random retries, continue_on_error and conditions.
func genWorkflow(t *rapid.T) *workflow.Workflow {
	n := rapid.IntRange(0, 25).Draw(t, "steps")
	steps := make([]workflow.Step, n)
	for i := range steps {
		s := workflow.Step{Name: fmt.Sprintf("S%d", i), Command: "true"}
		if i > 0 {
			for _, d := range rapid.SliceOfNDistinct(rapid.IntRange(0, i-1), 0, 3, rapid.ID[int]).Draw(t, "deps") {
				s.DependsOn = append(s.DependsOn, steps[d].Name)
			}
		}
		s.Retries = rapid.IntRange(0, 2).Draw(t, "retries")
		s.ContinueOnError = rapid.Bool().Draw(t, "continue_on_error")
		s.Timeout = time.Duration(rapid.IntRange(0, 2).Draw(t, "timeout")) * time.Minute
		switch rapid.IntRange(0, 9).Draw(t, "if") {
		case 0:
			s.If = "true"
		case 1:
			s.If = "false"
		case 2, 3:
			if len(s.DependsOn) > 0 {
				anc := rapid.SampledFrom(s.DependsOn).Draw(t, "if_step")
				st := rapid.SampledFrom([]StepStatus{StepSucceeded, StepSkipped, StepFailed}).Draw(t, "if_status")
				s.If = fmt.Sprintf("steps.%s.status == %q", anc, st)
			}
		case 4:
			if rapid.IntRange(0, 3).Draw(t, "if_error") == 0 {
				s.If = "len(branch) % len(sha) == 0" // fails at run time
			}
		}
		if s.If != "" {
			c, err := workflow.CompileCond(s.If)
			if err != nil {
				t.Fatalf("compiling %q: %v", s.If, err)
			}
			s.Cond = c
		}
		steps[i] = s
	}
	return &workflow.Workflow{File: "random.yml", Name: "random", Steps: steps}
}

type attempt struct {
	step    string
	attempt int
	started bool
}

// driver plays the executor and the clock: it delivers events for the
// commands still outstanding, in random order and with random outcomes, plus
// cancels, redeliveries and stale events, and checks every Decide.
type driver struct {
	t        *rapid.T
	wf       *workflow.Workflow
	s        State
	running  []attempt       // attempts started and not ended yet
	retries  []attempt       // ScheduleRetry not yet answered with RetryDue
	history  []Event         // every event delivered, for Replay and redelivery
	outcome  map[attempt]int // first accepted end per attempt: exit code, or -1 timeout, -2 lost
	final    map[string]StepState
	finishes int
	cancels  bool // a cancel was delivered before the run ended

	cancelOdds int // per event, 1 in cancelOdds delivers a cancel; 0: never
	failPct    int // percentage of attempts that fail
	// unclaimPct is the percentage of StartSteps no worker ever takes
	// (runs_on that no worker matches): they are never reported at all.
	unclaimPct int
	stuck      []attempt // such attempts
	// lostRetries is the system's budget of lost attempts per step, sent
	// on every ExecutorLost.
	lostRetries int
}

func TestDecideProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genWorkflow(t)
		d := &driver{t: t, wf: w, s: New(w, Vars{Branch: "main"}), outcome: map[attempt]int{}, final: map[string]StepState{},
			// Per-run odds, so that long runs can also succeed or end cancelled.
			cancelOdds:  rapid.SampledFrom([]int{0, 0, 10, 60}).Draw(t, "cancel_odds"),
			failPct:     rapid.SampledFrom([]int{0, 10, 30, 60}).Draw(t, "fail_pct"),
			lostRetries: rapid.IntRange(0, 2).Draw(t, "lost_retries"),
		}
		d.deliver(requested())
		for range 5000 {
			if d.s.Status.Terminal() && len(d.running) == 0 && len(d.retries) == 0 {
				break
			}
			d.step()
		}
		if !d.s.Status.Terminal() {
			t.Fatalf("run still %s after 5000 events: %+v", d.s.Status, d.s.Steps)
		}
		// Events after the end, redelivered, must change nothing.
		for range rapid.IntRange(0, 3).Draw(t, "late") {
			d.deliver(rapid.SampledFrom(d.history).Draw(t, "late_event"))
		}
		d.checkEnd()
	})
}

// TestDecideStopEndsUnclaimedSteps: some attempts are never taken by any
// worker and so never report anything. Whatever state the other steps are
// in (waiting, queued, running, retrying, ended), a fail-fast or a cancel
// must end the run as soon as every attempt that reported its start has
// reported its end: the engine never waits for an attempt nobody runs.
func TestDecideStopEndsUnclaimedSteps(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genWorkflow(t)
		d := &driver{t: t, wf: w, s: New(w, Vars{Branch: "main"}), outcome: map[attempt]int{}, final: map[string]StepState{},
			cancelOdds:  rapid.SampledFrom([]int{0, 10, 60}).Draw(t, "cancel_odds"),
			failPct:     rapid.SampledFrom([]int{0, 10, 30, 60}).Draw(t, "fail_pct"),
			unclaimPct:  rapid.SampledFrom([]int{10, 30, 100}).Draw(t, "unclaim_pct"),
			lostRetries: rapid.IntRange(0, 2).Draw(t, "lost_retries"),
		}
		d.deliver(requested())
		d.drain()
		if !d.s.Status.Terminal() {
			// Nothing more will be reported. Only a healthy run may wait
			// (for a worker that can take its queued steps); a run that is
			// failing or cancelling must have ended.
			if d.s.Failed || d.s.CancelRequested {
				t.Fatalf("run %s is stopping (%s) but still waits with every started attempt reported: %+v", d.s.Status, d.s.StopReason, d.s.Steps)
			}
			queued := 0
			for _, st := range d.s.Steps {
				if st.Status == StepQueued {
					queued++
				}
			}
			if queued == 0 {
				t.Fatalf("healthy run %s waits with no queued step: %+v", d.s.Status, d.s.Steps)
			}
			d.deliver(cancel("nobody can take the queued steps"))
			d.drain()
			if !d.s.Status.Terminal() {
				t.Fatalf("run still %s after a cancel with every started attempt reported: %+v", d.s.Status, d.s.Steps)
			}
		}
		for _, a := range d.stuck {
			if st := d.s.Steps[d.wf.StepIndex(a.step)]; st.Attempt == a.attempt && st.Status != StepCancelled {
				t.Fatalf("step %s ended %s on attempt %d, which never ran", st.Name, st.Status, a.attempt)
			}
		}
		d.checkEnd()
	})
}

// drain delivers events until every attempt a worker took has reported its
// end and every retry is due.
func (d *driver) drain() {
	for range 5000 {
		if len(d.running) == 0 && len(d.retries) == 0 {
			return
		}
		d.step()
	}
	d.t.Fatalf("still %d attempts and %d retries outstanding after 5000 events", len(d.running), len(d.retries))
}

// step delivers one random event.
func (d *driver) step() {
	t := d.t
	if d.cancelOdds > 0 && rapid.IntRange(1, d.cancelOdds).Draw(t, "cancel") == 1 {
		d.deliver(cancel("random cancel"))
		return
	}
	switch k := rapid.IntRange(0, 19).Draw(t, "kind"); {
	case k <= 1:
		d.deliver(rapid.SampledFrom(d.history).Draw(t, "redeliver"))
		return
	case k <= 2:
		d.deliverStale()
		return
	}
	n := len(d.running) + len(d.retries)
	if n == 0 {
		if !d.s.Status.Terminal() && len(d.stuck) == 0 {
			t.Fatalf("run %s stalled: no command outstanding, steps %+v", d.s.Status, d.s.Steps)
		}
		return
	}
	i := rapid.IntRange(0, n-1).Draw(t, "which")
	if i >= len(d.running) {
		i -= len(d.running)
		r := d.retries[i]
		d.retries = append(d.retries[:i], d.retries[i+1:]...)
		d.deliver(retryDue(r.step, r.attempt))
		return
	}
	a := &d.running[i]
	if !a.started && rapid.IntRange(0, 4).Draw(t, "start_first") > 0 {
		a.started = true
		d.deliver(started(a.step, a.attempt))
		return
	}
	key := attempt{step: a.step, attempt: a.attempt}
	d.running = append(d.running[:i], d.running[i+1:]...)
	var e Event
	switch fail := rapid.IntRange(0, 99).Draw(t, "fail") < d.failPct; {
	case !fail:
		e = exited(key.step, key.attempt, 0)
	default:
		switch rapid.IntRange(0, 2).Draw(t, "failure") {
		case 0:
			e = exited(key.step, key.attempt, 1)
		case 1:
			e = timedOut(key.step, key.attempt)
		default:
			e = lost(key.step, key.attempt, "executor lost: lease expired")
			e.LostRetries = d.lostRetries
		}
	}
	if _, seen := d.outcome[key]; !seen {
		d.outcome[key] = outcomeCode(e)
	}
	d.deliver(e)
}

// deliverStale sends an event for an attempt before a step's current one.
func (d *driver) deliverStale() {
	var older []attempt
	for _, st := range d.s.Steps {
		for a := 1; a < st.Attempt; a++ {
			older = append(older, attempt{step: st.Name, attempt: a})
		}
	}
	if len(older) == 0 {
		return
	}
	a := rapid.SampledFrom(older).Draw(d.t, "stale")
	kind := rapid.SampledFrom([]EventKind{StepStarted, StepExited, StepTimedOut, ExecutorLost, RetryDue}).Draw(d.t, "stale_kind")
	d.deliver(Event{Kind: kind, Step: a.step, Attempt: a.attempt})
}

func outcomeCode(e Event) int {
	switch e.Kind {
	case StepTimedOut:
		return -1
	case ExecutorLost:
		return -2
	}
	return e.ExitCode
}

// deliver applies e and checks the properties that hold after every Decide.
func (d *driver) deliver(e Event) {
	t := d.t
	e.Time = t0.Add(time.Duration(len(d.history)) * time.Millisecond)
	before := deepCopy(d.s)
	next, cmds, err := Decide(d.s, e)
	if err != nil {
		t.Fatalf("Decide(%+v): %v", e, err)
	}
	// Property 5: the input state is never modified.
	if !reflect.DeepEqual(before, d.s) {
		t.Fatalf("Decide(%+v) modified its input", e)
	}
	if d.s.Status.Terminal() && (len(cmds) > 0 || !reflect.DeepEqual(next, d.s)) {
		t.Fatalf("event %+v after the run ended was not ignored: %v", e, cmds)
	}
	if e.Kind == CancelRequested && !d.s.Status.Terminal() {
		d.cancels = true
	}
	stopping := d.s.Failed || d.s.CancelRequested
	d.history = append(d.history, e)
	d.s = next
	for _, c := range cmds {
		if c.Kind == StartStep && stopping {
			t.Fatalf("%+v issued while the run was already stopping (%s)", c, d.s.StopReason)
		}
		d.command(c)
	}
	d.checkSteps()
}

func (d *driver) command(c Command) {
	t := d.t
	switch c.Kind {
	case StartStep:
		// Property 1: no step starts before its dependencies are done.
		i := d.wf.StepIndex(c.Step)
		for _, dep := range d.wf.Steps[i].DependsOn {
			if !doneForDependents(d.wf, d.s, dep) {
				t.Fatalf("%s started while its dependency %s is %s", c.Step, dep, d.s.Steps[d.wf.StepIndex(dep)].Status)
			}
		}
		if st := d.s.Steps[i]; st.Status != StepQueued || st.Attempt != c.Attempt || c.Timeout != d.wf.Steps[i].Timeout {
			t.Fatalf("StartStep %+v does not match step state %+v", c, st)
		}
		if d.unclaimPct > 0 && rapid.IntRange(0, 99).Draw(t, "unclaimable") < d.unclaimPct {
			d.stuck = append(d.stuck, attempt{step: c.Step, attempt: c.Attempt})
			return
		}
		d.running = append(d.running, attempt{step: c.Step, attempt: c.Attempt})
	case ScheduleRetry:
		// Backoff counts the step's own attempts, not those lost.
		if lostN := d.s.Steps[d.wf.StepIndex(c.Step)].Lost; c.Delay != Backoff(c.Attempt-lostN) {
			t.Fatalf("ScheduleRetry %+v: delay is not Backoff(%d)", c, c.Attempt-lostN)
		}
		d.retries = append(d.retries, attempt{step: c.Step, attempt: c.Attempt})
	case FinishRun:
		d.finishes++
		if !d.s.Status.Terminal() || c.Status != d.s.Status {
			t.Fatalf("FinishRun %+v but the run is %s", c, d.s.Status)
		}
	}
}

func doneForDependents(w *workflow.Workflow, s State, name string) bool {
	i := w.StepIndex(name)
	st := s.Steps[i].Status
	return st == StepSucceeded || st == StepSkipped || (st == StepFailed && w.Steps[i].ContinueOnError)
}

// checkSteps: property 2 (a terminal step never changes again), and
// eagerness (while the run is healthy, no step waits with its dependencies done).
func (d *driver) checkSteps() {
	healthy := d.s.Status == RunRunning && !d.s.Failed && !d.s.CancelRequested
	for i, st := range d.s.Steps {
		if first, ok := d.final[st.Name]; ok {
			if !reflect.DeepEqual(first, st) {
				d.t.Fatalf("terminal step changed:\n was %+v\n now %+v", first, st)
			}
			continue
		}
		if st.Status.Terminal() {
			d.final[st.Name] = st
		}
		// Lost attempts are retried within the system's budget, and the
		// step's own attempts never exceed 1 + retries.
		if st.Lost > d.lostRetries || st.Attempt-st.Lost > d.wf.Steps[i].Retries+1 {
			d.t.Fatalf("step %s: attempt %d with %d lost (budget %d), retries %d", st.Name, st.Attempt, st.Lost, d.lostRetries, d.wf.Steps[i].Retries)
		}
		if healthy && st.Status == StepWaiting {
			ready := true
			for _, dep := range d.wf.Steps[i].DependsOn {
				ready = ready && doneForDependents(d.wf, d.s, dep)
			}
			if ready {
				d.t.Fatalf("step %s waits although its dependencies are done", st.Name)
			}
		}
	}
}

// checkEnd: properties 2, 3 and 4 at the end of the run.
func (d *driver) checkEnd() {
	t := d.t
	if d.finishes != 1 {
		t.Fatalf("%d FinishRun commands, want exactly 1", d.finishes)
	}
	want := RunSucceeded
	if d.cancels {
		want = RunCancelled
	}
	for i, st := range d.s.Steps {
		ws := d.wf.Steps[i]
		if !st.Status.Terminal() {
			t.Fatalf("run ended with step %s %s", st.Name, st.Status)
		}
		if st.Status == StepFailed && !ws.ContinueOnError {
			want = RunFailed
		}
		out, ran := d.outcome[attempt{step: st.Name, attempt: st.Attempt}]
		switch st.Status {
		case StepSucceeded:
			if !ran || out != 0 {
				t.Fatalf("step %s succeeded but its attempt %d ended with %d (ran %v)", st.Name, st.Attempt, out, ran)
			}
		case StepFailed:
			if ran && (out == 0 || st.Attempt-st.Lost != ws.Retries+1) {
				t.Fatalf("step %s failed after attempt %d (%d lost) of %d ending %d", st.Name, st.Attempt, st.Lost, ws.Retries+1, out)
			}
			if ran && out == -2 && st.Lost < d.lostRetries {
				t.Fatalf("step %s failed on a lost executor with %d of %d system retries used", st.Name, st.Lost, d.lostRetries)
			}
			if !ran && (st.Attempt != 0 || ws.Cond == nil) {
				t.Fatalf("step %s failed without running and without an if", st.Name)
			}
		case StepSkipped:
			if st.Attempt != 0 || ws.Cond == nil {
				t.Fatalf("step %s skipped after %d attempts or without an if", st.Name, st.Attempt)
			}
		case StepCancelled:
			if !d.s.Failed && !d.s.CancelRequested {
				t.Fatalf("step %s cancelled in a run that neither failed nor was cancelled", st.Name)
			}
		}
	}
	if d.s.Status != want {
		t.Fatalf("run ended %s (%s), the rules give %s", d.s.Status, d.s.Reason, want)
	}
	// Property 4: the event log rebuilds the identical state.
	replayed, err := Replay(d.wf, d.s.Vars, d.history)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if !reflect.DeepEqual(replayed, d.s) {
		t.Fatalf("Replay differs from the live state:\n replayed %+v\n live     %+v", replayed, d.s)
	}
}

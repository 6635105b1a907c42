package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/runbookhq/runbook/internal/workflow"
)

// decider carries one Decide call: the state being built and the commands
// issued so far.
type decider struct {
	s      State
	ix     *index
	now    time.Time
	cmds   []Command
	cloned bool                         // s.Steps is our own copy
	conds  map[string]workflow.StepInfo // statuses `if` sees; built on first use, kept in sync
}

// step returns step i for writing. The first write copies Steps so that the
// caller's State is never modified.
func (d *decider) step(i int) *StepState {
	if !d.cloned {
		d.s.Steps = slices.Clone(d.s.Steps)
		d.cloned = true
	}
	return &d.s.Steps[i]
}

// setStatus is the only place a step's status changes, so the `if` view
// stays current within one Decide.
func (d *decider) setStatus(i int, st StepStatus, reason string) {
	p := d.step(i)
	p.Status, p.Reason = st, reason
	if st.Terminal() {
		p.FinishedAt = d.now
	}
	if d.conds != nil {
		d.conds[p.Name] = workflow.StepInfo{Status: string(st)}
	}
}

// healthy reports whether new steps may start.
func (d *decider) healthy() bool {
	return d.s.Status == RunRunning && !d.s.Failed && !d.s.CancelRequested
}

func (d *decider) runRequested() bool {
	if d.s.Status != RunQueued {
		return false
	}
	d.s.Status, d.s.StartedAt = RunRunning, d.now
	all := make(minHeap, len(d.s.Steps)) // ascending, hence already a heap
	for i := range all {
		all[i] = i
	}
	d.startReady(all)
	return true
}

// reuse marks step i succeeded without running it, for a re-run of only
// the failed steps of an earlier run. It fits only before the run starts.
func (d *decider) reuse(i int, reason string) bool {
	if d.s.Status != RunQueued || d.s.Steps[i].Status != StepWaiting {
		return false
	}
	if reason == "" {
		reason = "succeeded in an earlier run"
	}
	d.setStatus(i, StepSucceeded, reason)
	return true
}

func (d *decider) cancelRequested(reason string) bool {
	if d.s.CancelRequested {
		// A state stored before queued steps were cancelled at once may
		// still hold some: a cancel ends them.
		return d.cancelQueued()
	}
	d.s.CancelRequested = true
	if d.s.Failed {
		d.cancelQueued()
		return true // first cause wins; the run is already stopping
	}
	stop := "run cancelled"
	if reason == "" {
		reason = "cancel requested"
	} else {
		stop += ": " + reason
	}
	d.s.Reason = reason
	d.stop(stop)
	return true
}

// stepEvent applies an event about step i; false means it does not fit the
// step's current attempt or status and is ignored.
func (d *decider) stepEvent(i int, e Event) bool {
	cur := d.s.Steps[i]
	switch e.Kind {
	case StepStarted:
		if cur.Status != StepQueued || e.Attempt != cur.Attempt {
			return false
		}
		d.step(i).StartedAt = d.now
		d.setStatus(i, StepRunning, cur.Reason)
	case RetryDue:
		if cur.Status != StepRetrying || e.Attempt != cur.Attempt+1 || !d.healthy() {
			return false
		}
		d.queue(i)
	default: // the attempt ended
		if (cur.Status != StepQueued && cur.Status != StepRunning) || e.Attempt != cur.Attempt {
			return false
		}
		switch {
		case e.Kind == StepExited && e.ExitCode == 0:
			d.succeeded(i)
		case e.Kind == StepExited:
			d.attemptFailed(i, &e.ExitCode, fmt.Sprintf("exit code %d", e.ExitCode))
		case e.Kind == StepTimedOut:
			why := "timed out"
			if t := d.s.Workflow.Steps[i].Timeout; t > 0 {
				why += " after " + t.String()
			}
			d.attemptFailed(i, nil, why)
		default: // ExecutorLost
			why := e.Reason
			if why == "" {
				why = "executor lost"
			}
			if d.healthy() && cur.Lost < e.LostRetries {
				d.lostRetry(i, why, e.LostRetries)
				break
			}
			d.attemptFailed(i, nil, why)
		}
	}
	return true
}

func (d *decider) succeeded(i int) {
	code := 0
	d.step(i).ExitCode = &code
	d.setStatus(i, StepSucceeded, "")
	d.startReady(slices.Clone(d.ix.dependents[i]))
}

// attemptFailed ends the current attempt of step i: cancelled if the run is
// stopping, else retried, failed, or failed-but-continuing.
func (d *decider) attemptFailed(i int, code *int, why string) {
	p := d.step(i)
	p.ExitCode = code
	if !d.healthy() {
		d.setStatus(i, StepCancelled, d.s.StopReason)
		return
	}
	st := &d.s.Workflow.Steps[i]
	if tried := p.Attempt - p.Lost; tried <= st.Retries {
		next := p.Attempt + 1
		delay := Backoff(tried + 1)
		d.setStatus(i, StepRetrying, fmt.Sprintf("attempt %d: %s; attempt %d in %s", p.Attempt, why, next, delay))
		d.cmds = append(d.cmds, Command{Kind: ScheduleRetry, Step: p.Name, Attempt: next, Delay: delay})
		return
	}
	d.setStatus(i, StepFailed, why)
	if st.ContinueOnError {
		d.startReady(slices.Clone(d.ix.dependents[i]))
		return
	}
	d.fail(i, why)
}

// lostRetry starts step i again at once after its executor was lost: the
// step's own retries are for its failures, not the system's.
func (d *decider) lostRetry(i int, why string, budget int) {
	p := d.step(i)
	p.ExitCode = nil
	p.Lost++
	p.Reason = fmt.Sprintf("attempt %d: %s; attempt %d at once (lost attempt %d of %d the system retries)", p.Attempt, why, p.Attempt+1, p.Lost, budget)
	d.queue(i)
}

// fail is fail-fast: the run will end failed and every other step stops.
func (d *decider) fail(i int, why string) {
	name := d.s.Steps[i].Name
	d.s.Failed = true
	d.s.Reason = fmt.Sprintf("step %q failed (%s)", name, why)
	d.stop(fmt.Sprintf("run failed: step %q failed", name))
}

// stop cancels steps that have not started and asks running ones to stop;
// those end when their own exit event arrives.
//
// A queued step has not started (drivers report StepStarted before they run
// anything), and nothing may ever report its end: no worker may be able to
// take it. So it is cancelled now, never waited for; its CancelStep only
// tells a driver that holds it not to start it.
func (d *decider) stop(why string) {
	d.s.StopReason = why
	for i := range d.s.Steps {
		switch p := &d.s.Steps[i]; p.Status {
		case StepWaiting, StepRetrying:
			d.setStatus(i, StepCancelled, why)
		case StepQueued:
			d.cancelQueuedStep(i, why)
		case StepRunning:
			d.cmds = append(d.cmds, Command{Kind: CancelStep, Step: p.Name, Attempt: p.Attempt})
		}
	}
}

// cancelQueued cancels the queued steps of a run that is already stopping,
// as stop does; it reports whether there were any.
func (d *decider) cancelQueued() bool {
	found := false
	for i := range d.s.Steps {
		if d.s.Steps[i].Status == StepQueued {
			d.cancelQueuedStep(i, d.s.StopReason)
			found = true
		}
	}
	return found
}

// cancelQueuedStep cancels queued step i. A StartStep issued for it by this
// same Decide is withdrawn instead of being followed by its CancelStep.
func (d *decider) cancelQueuedStep(i int, why string) {
	p := &d.s.Steps[i]
	start := Command{Kind: StartStep, Step: p.Name, Attempt: p.Attempt, Timeout: d.s.Workflow.Steps[i].Timeout}
	if j := slices.Index(d.cmds, start); j >= 0 {
		d.cmds = slices.Delete(d.cmds, j, j+1)
		// Never handed out: the attempt did not happen.
		p = d.step(i)
		if p.Attempt--; p.Attempt == 0 {
			p.QueuedAt = time.Time{}
		}
	} else {
		d.cmds = append(d.cmds, Command{Kind: CancelStep, Step: p.Name, Attempt: p.Attempt})
	}
	d.setStatus(i, StepCancelled, why)
}

// queue starts the next attempt of step i.
func (d *decider) queue(i int) {
	p := d.step(i)
	p.Attempt++
	p.QueuedAt, p.StartedAt = d.now, time.Time{}
	d.setStatus(i, StepQueued, p.Reason) // keep why the last attempt failed
	d.cmds = append(d.cmds, Command{Kind: StartStep, Step: p.Name, Attempt: p.Attempt, Timeout: d.s.Workflow.Steps[i].Timeout})
}

// startReady starts, skips or fails every candidate whose dependencies are
// done, lowest index first, adding the dependents of skipped and
// failed-but-continuing steps until nothing more becomes ready.
func (d *decider) startReady(h minHeap) {
	for len(h) > 0 && d.healthy() {
		i := h.pop()
		if d.s.Steps[i].Status != StepWaiting || !d.depsDone(i) {
			continue
		}
		st := &d.s.Workflow.Steps[i]
		if st.Cond != nil {
			ok, err := st.Cond.Eval(d.s.Vars, d.condSteps())
			switch {
			case err != nil:
				// expr appends a source excerpt on further lines; the first says it all.
				why, _, _ := strings.Cut(err.Error(), "\n")
				d.setStatus(i, StepFailed, why)
				if !st.ContinueOnError {
					d.fail(i, why)
					continue
				}
			case !ok:
				d.setStatus(i, StepSkipped, fmt.Sprintf("if: %s was false", st.Cond))
			}
			if err != nil || !ok {
				for _, j := range d.ix.dependents[i] {
					h.push(j)
				}
				continue
			}
		}
		d.queue(i)
	}
}

// depsDone reports whether every dependency of step i lets it run.
func (d *decider) depsDone(i int) bool {
	for _, j := range d.ix.deps[i] {
		switch d.s.Steps[j].Status {
		case StepSucceeded, StepSkipped:
		case StepFailed:
			if !d.s.Workflow.Steps[j].ContinueOnError {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (d *decider) condSteps() map[string]workflow.StepInfo {
	if d.conds == nil {
		d.conds = make(map[string]workflow.StepInfo, len(d.s.Steps))
		for _, p := range d.s.Steps {
			d.conds[p.Name] = workflow.StepInfo{Status: string(p.Status)}
		}
	}
	return d.conds
}

// finishIfDone ends the run once every step is terminal.
func (d *decider) finishIfDone() {
	if d.s.Status.Terminal() || (d.s.Status != RunRunning && !d.s.CancelRequested) {
		return
	}
	// Backwards: in a chain the last step is the one still waiting.
	for i := len(d.s.Steps) - 1; i >= 0; i-- {
		if !d.s.Steps[i].Status.Terminal() {
			return
		}
	}
	status := RunSucceeded
	switch {
	case d.s.Failed:
		status = RunFailed
	case d.s.CancelRequested:
		status = RunCancelled
	}
	d.s.Status, d.s.FinishedAt = status, d.now
	d.cmds = append(d.cmds, Command{Kind: FinishRun, Status: status, Reason: d.s.Reason})
}

// minHeap orders candidate step indices so ready steps start in file order.
type minHeap []int

func (h *minHeap) push(x int) {
	*h = append(*h, x)
	for c := len(*h) - 1; c > 0; {
		p := (c - 1) / 2
		if (*h)[p] <= (*h)[c] {
			break
		}
		(*h)[p], (*h)[c] = (*h)[c], (*h)[p]
		c = p
	}
}

func (h *minHeap) pop() int {
	a := *h
	top, last := a[0], len(a)-1
	a[0] = a[last]
	a = a[:last]
	for p := 0; ; {
		c := 2*p + 1
		if c >= len(a) {
			break
		}
		if c+1 < len(a) && a[c+1] < a[c] {
			c++
		}
		if a[p] <= a[c] {
			break
		}
		a[p], a[c] = a[c], a[p]
		p = c
	}
	*h = a
	return top
}

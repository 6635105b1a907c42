package engine

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/workflow"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Workflow builders: tests construct workflows directly, not via Parse.

type stepOpt func(*workflow.Step)

func after(deps ...string) stepOpt { return func(s *workflow.Step) { s.DependsOn = deps } }
func retries(n int) stepOpt        { return func(s *workflow.Step) { s.Retries = n } }
func coe() stepOpt                 { return func(s *workflow.Step) { s.ContinueOnError = true } }
func timeout(d time.Duration) stepOpt {
	return func(s *workflow.Step) { s.Timeout = d }
}

func iff(src string) stepOpt {
	c, err := workflow.CompileCond(src)
	if err != nil {
		panic("test condition " + src + ": " + err.Error())
	}
	return func(s *workflow.Step) { s.If, s.Cond = src, c }
}

func step(name string, opts ...stepOpt) workflow.Step {
	s := workflow.Step{Name: name, Command: "true"}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func wf(steps ...workflow.Step) *workflow.Workflow {
	return &workflow.Workflow{File: "test.yml", Name: "test", Steps: steps}
}

// Event and command builders.

func requested() Event              { return Event{Kind: RunRequested} }
func started(s string, a int) Event { return Event{Kind: StepStarted, Step: s, Attempt: a} }
func exited(s string, a, c int) Event {
	return Event{Kind: StepExited, Step: s, Attempt: a, ExitCode: c}
}
func timedOut(s string, a int) Event { return Event{Kind: StepTimedOut, Step: s, Attempt: a} }
func lost(s string, a int, why string) Event {
	return Event{Kind: ExecutorLost, Step: s, Attempt: a, Reason: why}
}
func lostN(s string, a int, why string, lostRetries int) Event {
	return Event{Kind: ExecutorLost, Step: s, Attempt: a, Reason: why, LostRetries: lostRetries}
}
func retryDue(s string, a int) Event { return Event{Kind: RetryDue, Step: s, Attempt: a} }
func cancel(why string) Event        { return Event{Kind: CancelRequested, Reason: why} }

func start(s string, a int) Command { return Command{Kind: StartStep, Step: s, Attempt: a} }
func startT(s string, a int, t time.Duration) Command {
	return Command{Kind: StartStep, Step: s, Attempt: a, Timeout: t}
}
func stop(s string, a int) Command { return Command{Kind: CancelStep, Step: s, Attempt: a} }
func retry(s string, a int, d time.Duration) Command {
	return Command{Kind: ScheduleRetry, Step: s, Attempt: a, Delay: d}
}
func finish(st RunStatus, why string) Command {
	return Command{Kind: FinishRun, Status: st, Reason: why}
}

// deepCopy copies everything Decide could reach through s, so a later
// comparison detects any write into the caller's state.
func deepCopy(s State) State {
	c := s
	c.Steps = slices.Clone(s.Steps)
	for i, st := range c.Steps {
		if st.ExitCode != nil {
			v := *st.ExitCode
			c.Steps[i].ExitCode = &v
		}
	}
	if s.Vars.Env != nil {
		c.Vars.Env = make(map[string]string, len(s.Vars.Env))
		for k, v := range s.Vars.Env {
			c.Vars.Env[k] = v
		}
	}
	return c
}

func statuses(s State) map[string]StepStatus {
	m := make(map[string]StepStatus, len(s.Steps))
	for _, st := range s.Steps {
		m[st.Name] = st.Status
	}
	return m
}

// mustDecide applies e and checks that the input state was left untouched.
func mustDecide(t *testing.T, s State, e Event) (State, []Command) {
	t.Helper()
	before := deepCopy(s)
	next, cmds, err := Decide(s, e)
	if err != nil {
		t.Fatalf("Decide(%+v): %v", e, err)
	}
	if !reflect.DeepEqual(before, s) {
		t.Fatalf("Decide(%+v) modified its input state", e)
	}
	return next, cmds
}

package engine

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/workflow"
)

// turn is one event and the exact commands Decide must answer with.
// ignored turns must also leave the state deep-equal to what it was.
type turn struct {
	ev      Event
	want    []Command
	ignored bool
}

type scenario struct {
	name    string
	wf      *workflow.Workflow
	vars    Vars
	turns   []turn
	run     RunStatus
	reason  string                // the run's Reason
	steps   map[string]StepStatus // final step statuses
	reasons map[string]string     // final step reasons worth pinning
}

func TestDecideScenarios(t *testing.T) {
	sec := time.Second
	lease := "executor lost: lease expired"
	badIf := "len(branch) % len(sha) == 0" // compiles, but divides by zero at run time
	badWhy := evalErr(t, badIf)
	for _, sc := range []scenario{
		{
			name: "diamond starts C as soon as A succeeds while B still runs",
			wf:   wf(step("A"), step("B"), step("C", after("A")), step("D", after("A", "B")), step("E", after("B"))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1), start("B", 1)}},
				{ev: started("A", 1)},
				{ev: started("B", 1)},
				{ev: exited("A", 1, 0), want: []Command{start("C", 1)}},
				{ev: started("C", 1)},
				{ev: exited("C", 1, 0)},
				{ev: exited("B", 1, 0), want: []Command{start("D", 1), start("E", 1)}},
				{ev: exited("E", 1, 0)},
				{ev: exited("D", 1, 0), want: []Command{finish(RunSucceeded, "")}},
			},
			run:   RunSucceeded,
			steps: map[string]StepStatus{"A": StepSucceeded, "B": StepSucceeded, "C": StepSucceeded, "D": StepSucceeded, "E": StepSucceeded},
		},
		{
			name: "skipped steps count as done, in a cascade within one Decide",
			wf: wf(step("A", iff("false")), step("B", after("A"), iff(`branch == "dev"`)), step("C", after("B")),
				step("D", after("C"), iff(`steps.A.status == "skipped" && steps.C.status == "succeeded"`)), step("E", after("D"))),
			vars: Vars{Branch: "main"},
			turns: []turn{
				{ev: requested(), want: []Command{start("C", 1)}},
				{ev: exited("C", 1, 0), want: []Command{start("D", 1)}},
				{ev: exited("D", 1, 0), want: []Command{start("E", 1)}},
				{ev: exited("E", 1, 0), want: []Command{finish(RunSucceeded, "")}},
			},
			run:     RunSucceeded,
			steps:   map[string]StepStatus{"A": StepSkipped, "B": StepSkipped, "C": StepSucceeded, "D": StepSucceeded, "E": StepSucceeded},
			reasons: map[string]string{"A": "if: false was false", "B": `if: branch == "dev" was false`},
		},
		{
			name: "if that cannot be evaluated fails the step and the run",
			wf:   wf(step("B"), step("A", iff(badIf))),
			turns: []turn{
				// A is evaluated after B was queued (file order), in the same
				// Decide: B's StartStep is withdrawn, not followed by a stop.
				{ev: requested(), want: []Command{finish(RunFailed, `step "A" failed (`+badWhy+`)`)}},
				{ev: exited("B", 1, 143), ignored: true},
			},
			run:     RunFailed,
			steps:   map[string]StepStatus{"A": StepFailed, "B": StepCancelled},
			reasons: map[string]string{"A": badWhy, "B": `run failed: step "A" failed`},
		},
		{
			name: "if error with continue_on_error lets dependents run",
			wf:   wf(step("A", iff(badIf), coe()), step("B", after("A"))),
			turns: []turn{
				{ev: requested(), want: []Command{start("B", 1)}},
				{ev: exited("B", 1, 0), want: []Command{finish(RunSucceeded, "")}},
			},
			run:   RunSucceeded,
			steps: map[string]StepStatus{"A": StepFailed, "B": StepSucceeded},
		},
		{
			name: "retries back off 1s, 2s, 4s and a later success succeeds",
			wf:   wf(step("A", retries(3)), step("B", after("A"))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1)}},
				{ev: exited("A", 1, 1), want: []Command{retry("A", 2, sec)}},
				{ev: retryDue("A", 2), want: []Command{start("A", 2)}},
				{ev: exited("A", 2, 1), want: []Command{retry("A", 3, 2*sec)}},
				{ev: retryDue("A", 3), want: []Command{start("A", 3)}},
				{ev: exited("A", 3, 1), want: []Command{retry("A", 4, 4*sec)}},
				{ev: retryDue("A", 4), want: []Command{start("A", 4)}},
				{ev: exited("A", 4, 0), want: []Command{start("B", 1)}},
				{ev: exited("B", 1, 0), want: []Command{finish(RunSucceeded, "")}},
			},
			run:   RunSucceeded,
			steps: map[string]StepStatus{"A": StepSucceeded, "B": StepSucceeded},
		},
		{
			name: "retries exhausted fail the run",
			wf:   wf(step("A", retries(1))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1)}},
				{ev: exited("A", 1, 1), want: []Command{retry("A", 2, sec)}},
				{ev: retryDue("A", 2), want: []Command{start("A", 2)}},
				{ev: exited("A", 2, 3), want: []Command{finish(RunFailed, `step "A" failed (exit code 3)`)}},
			},
			run:     RunFailed,
			reason:  `step "A" failed (exit code 3)`,
			steps:   map[string]StepStatus{"A": StepFailed},
			reasons: map[string]string{"A": "exit code 3"},
		},
		{
			name: "timeout is passed on and a timed-out attempt fails",
			wf:   wf(step("A", timeout(90*sec))),
			turns: []turn{
				{ev: requested(), want: []Command{startT("A", 1, 90*sec)}},
				{ev: started("A", 1)},
				{ev: timedOut("A", 1), want: []Command{finish(RunFailed, `step "A" failed (timed out after 1m30s)`)}},
			},
			run:   RunFailed,
			steps: map[string]StepStatus{"A": StepFailed},
		},
		{
			name: "a lost executor is retried, then fails with the event's reason",
			wf:   wf(step("A", retries(1))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1)}},
				{ev: started("A", 1)},
				{ev: lost("A", 1, lease), want: []Command{retry("A", 2, sec)}},
				{ev: retryDue("A", 2), want: []Command{start("A", 2)}},
				{ev: lost("A", 2, lease), want: []Command{finish(RunFailed, `step "A" failed (executor lost: lease expired)`)}},
			},
			run:     RunFailed,
			steps:   map[string]StepStatus{"A": StepFailed},
			reasons: map[string]string{"A": lease},
		},
		{
			// Issue 13, item 4.2: a worker crash must not use up the
			// step's retries: with retries 0, lost attempts are retried
			// by the system (LostRetries on the event) at once.
			name: "lost attempts are retried by the system apart from the step's retries",
			wf:   wf(step("A"), step("B", retries(1))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1), start("B", 1)}},
				{ev: started("A", 1)},
				{ev: lostN("A", 1, lease, 2), want: []Command{start("A", 2)}},
				{ev: started("A", 2)},
				{ev: lostN("A", 2, lease, 2), want: []Command{start("A", 3)}},
				{ev: exited("A", 3, 0)},
				// B: one lost attempt, then its own retry backs off 1s, as
				// for its first failure.
				{ev: lostN("B", 1, lease, 2), want: []Command{start("B", 2)}},
				{ev: exited("B", 2, 1), want: []Command{retry("B", 3, sec)}},
				{ev: retryDue("B", 3), want: []Command{start("B", 3)}},
				{ev: exited("B", 3, 0), want: []Command{finish(RunSucceeded, "")}},
			},
			run:   RunSucceeded,
			steps: map[string]StepStatus{"A": StepSucceeded, "B": StepSucceeded},
		},
		{
			name: "a loss beyond the system's budget counts against the step's retries",
			wf:   wf(step("A")),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1)}},
				{ev: lostN("A", 1, lease, 1), want: []Command{start("A", 2)}},
				{ev: lostN("A", 2, lease, 1), want: []Command{finish(RunFailed, `step "A" failed (executor lost: lease expired)`)}},
			},
			run:     RunFailed,
			steps:   map[string]StepStatus{"A": StepFailed},
			reasons: map[string]string{"A": lease},
		},
		{
			name: "continue_on_error lets dependents run and the run succeed",
			wf:   wf(step("A", coe()), step("B", after("A"), iff(`steps.A.status == "failed"`)), step("C")),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1), start("C", 1)}},
				{ev: exited("A", 1, 7), want: []Command{start("B", 1)}},
				{ev: exited("C", 1, 0)},
				{ev: exited("B", 1, 0), want: []Command{finish(RunSucceeded, "")}},
			},
			run:   RunSucceeded,
			steps: map[string]StepStatus{"A": StepFailed, "B": StepSucceeded, "C": StepSucceeded},
		},
		{
			name: "fail-fast cancels waiting and retrying steps and stops running ones",
			wf:   wf(step("A"), step("B"), step("R", retries(2)), step("C", after("A")), step("D", after("B"))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1), start("B", 1), start("R", 1)}},
				{ev: exited("R", 1, 1), want: []Command{retry("R", 2, sec)}},
				{ev: started("A", 1)},
				{ev: exited("B", 1, 2), want: []Command{stop("A", 1)}},
				{ev: retryDue("R", 2), ignored: true},
				{ev: exited("A", 1, 143), want: []Command{finish(RunFailed, `step "B" failed (exit code 2)`)}},
			},
			run:    RunFailed,
			reason: `step "B" failed (exit code 2)`,
			steps:  map[string]StepStatus{"A": StepCancelled, "B": StepFailed, "R": StepCancelled, "C": StepCancelled, "D": StepCancelled},
			reasons: map[string]string{"A": `run failed: step "B" failed`, "R": `run failed: step "B" failed`,
				"C": `run failed: step "B" failed`, "D": `run failed: step "B" failed`},
		},
		{
			name: "cancel during a retry's backoff ends the run at once",
			wf:   wf(step("A", retries(2))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1)}},
				{ev: exited("A", 1, 1), want: []Command{retry("A", 2, sec)}},
				{ev: cancel("stopped by alice"), want: []Command{finish(RunCancelled, "stopped by alice")}},
				{ev: retryDue("A", 2), ignored: true},
			},
			run:     RunCancelled,
			steps:   map[string]StepStatus{"A": StepCancelled},
			reasons: map[string]string{"A": "run cancelled: stopped by alice"},
		},
		{
			name: "exit 0 after a cancel records succeeded, the run is still cancelled",
			wf:   wf(step("A"), step("B"), step("C", after("A"))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1), start("B", 1)}},
				{ev: started("A", 1)},
				{ev: started("B", 1)},
				{ev: cancel(""), want: []Command{stop("A", 1), stop("B", 1)}},
				{ev: cancel("again"), ignored: true},
				{ev: exited("A", 1, 0)},
				{ev: timedOut("B", 1), want: []Command{finish(RunCancelled, "cancel requested")}},
			},
			run:   RunCancelled,
			steps: map[string]StepStatus{"A": StepSucceeded, "B": StepCancelled, "C": StepCancelled},
		},
		{
			name: "a cancel after a failure leaves the run failed",
			wf:   wf(step("A"), step("B")),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1), start("B", 1)}},
				{ev: started("B", 1)},
				{ev: exited("A", 1, 1), want: []Command{stop("B", 1)}},
				{ev: cancel("too late")},
				{ev: exited("B", 1, 1), want: []Command{finish(RunFailed, `step "A" failed (exit code 1)`)}},
			},
			run:   RunFailed,
			steps: map[string]StepStatus{"A": StepFailed, "B": StepCancelled},
		},
		{
			// Issue 13: a step no worker can take (runs_on matches none)
			// never reports; the run must not wait for it.
			name: "fail-fast cancels a queued step at once: the run never waits for an attempt nobody took",
			wf:   wf(step("Arm"), step("Bad"), step("After", after("Arm"))),
			turns: []turn{
				{ev: requested(), want: []Command{start("Arm", 1), start("Bad", 1)}},
				{ev: started("Bad", 1)},
				{ev: exited("Bad", 1, 1), want: []Command{stop("Arm", 1), finish(RunFailed, `step "Bad" failed (exit code 1)`)}},
				{ev: started("Arm", 1), ignored: true},
				{ev: exited("Arm", 1, 0), ignored: true},
			},
			run:     RunFailed,
			steps:   map[string]StepStatus{"Arm": StepCancelled, "Bad": StepFailed, "After": StepCancelled},
			reasons: map[string]string{"Arm": `run failed: step "Bad" failed`},
		},
		{
			name: "cancel ends queued steps at once and waits only for running ones",
			wf:   wf(step("Q"), step("R"), step("W", after("Q"))),
			turns: []turn{
				{ev: requested(), want: []Command{start("Q", 1), start("R", 1)}},
				{ev: started("R", 1)},
				{ev: cancel("stopped by bob"), want: []Command{stop("Q", 1), stop("R", 1)}},
				{ev: started("Q", 1), ignored: true},
				{ev: exited("R", 1, 143), want: []Command{finish(RunCancelled, "stopped by bob")}},
			},
			run:   RunCancelled,
			steps: map[string]StepStatus{"Q": StepCancelled, "R": StepCancelled, "W": StepCancelled},
		},
		{
			name: "stale and duplicate events are ignored, FinishRun comes once",
			wf:   wf(step("A", retries(1))),
			turns: []turn{
				{ev: requested(), want: []Command{start("A", 1)}},
				{ev: requested(), ignored: true},
				{ev: started("A", 1)},
				{ev: started("A", 1), ignored: true},
				{ev: exited("A", 1, 1), want: []Command{retry("A", 2, sec)}},
				{ev: exited("A", 1, 0), ignored: true},
				{ev: retryDue("A", 3), ignored: true},
				{ev: retryDue("A", 2), want: []Command{start("A", 2)}},
				{ev: retryDue("A", 2), ignored: true},
				{ev: started("A", 1), ignored: true},
				{ev: lost("A", 1, lease), ignored: true},
				{ev: exited("A", 2, 0), want: []Command{finish(RunSucceeded, "")}},
				{ev: exited("A", 2, 0), ignored: true},
				{ev: cancel("late"), ignored: true},
				{ev: requested(), ignored: true},
				{ev: Event{Kind: "bogus", Step: "nope"}, ignored: true},
			},
			run:   RunSucceeded,
			steps: map[string]StepStatus{"A": StepSucceeded},
		},
		{
			name:  "no steps: succeeds on RunRequested",
			wf:    wf(),
			turns: []turn{{ev: requested(), want: []Command{finish(RunSucceeded, "")}}},
			run:   RunSucceeded,
			steps: map[string]StepStatus{},
		},
		{
			name: "cancel before the run starts ends it cancelled",
			wf:   wf(step("A")),
			turns: []turn{
				{ev: started("A", 1), ignored: true},
				{ev: cancel("superseded by a newer push"), want: []Command{finish(RunCancelled, "superseded by a newer push")}},
				{ev: requested(), ignored: true},
			},
			run:   RunCancelled,
			steps: map[string]StepStatus{"A": StepCancelled},
		},
	} {
		t.Run(sc.name, func(t *testing.T) {
			s := New(sc.wf, sc.vars)
			for n, tu := range sc.turns {
				tu.ev.Time = t0.Add(time.Duration(n) * time.Second)
				next, cmds := mustDecide(t, s, tu.ev)
				if len(cmds) == 0 {
					cmds = nil
				}
				if !reflect.DeepEqual(cmds, tu.want) {
					t.Fatalf("turn %d %+v:\n got  %+v\n want %+v", n, tu.ev, cmds, tu.want)
				}
				if tu.ignored && !reflect.DeepEqual(next, s) {
					t.Fatalf("turn %d %+v should be ignored but changed the state", n, tu.ev)
				}
				s = next
			}
			if s.Status != sc.run {
				t.Errorf("run status %q, want %q", s.Status, sc.run)
			}
			if sc.reason != "" && s.Reason != sc.reason {
				t.Errorf("run reason %q, want %q", s.Reason, sc.reason)
			}
			if got := statuses(s); !reflect.DeepEqual(got, sc.steps) {
				t.Errorf("step statuses %v, want %v", got, sc.steps)
			}
			for name, want := range sc.reasons {
				if got := s.Steps[s.Workflow.StepIndex(name)].Reason; got != want {
					t.Errorf("step %s reason %q, want %q", name, got, want)
				}
			}
		})
	}
}

// evalErr is the first line of the error src gives when evaluated, which is
// what the engine records; the wording itself belongs to package workflow.
func evalErr(t *testing.T, src string) string {
	c, err := workflow.CompileCond(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.Eval(Vars{}, nil); err == nil {
		t.Fatalf("%s evaluated without error", src)
	}
	why, _, _ := strings.Cut(err.Error(), "\n")
	return why
}

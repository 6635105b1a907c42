package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

const (
	time1s    = time.Second
	leaseTime = 30 * time.Second
)

// testDiamondEndToEnd drives a diamond through Apply and the outbox, with
// the test playing the executor for every claimed start_step.
func testDiamondEndToEnd(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, diamondYAML, workflow.Vars{Branch: "main"})
	ev := func(kind engine.EventKind, step string, code int) engine.Event {
		clk.Advance(time.Millisecond)
		return engine.Event{Kind: kind, Time: clk.Now(), Step: step, Attempt: 1, ExitCode: code}
	}

	_, cmds := apply(t, s, r.ID, ev(engine.RunRequested, "", 0))
	if len(cmds) != 2 || cmds[0].Step != "A" || cmds[1].Step != "B" {
		t.Fatalf("RunRequested commands = %+v, want start A and B", cmds)
	}
	claimed := claim(t, s, "w1", 10)
	if got := stepsOf(claimed); !slices.Equal(got, []string{"A", "B"}) || claimed[0].Kind != store.CommandStartStep || claimed[0].Attempt != 1 {
		t.Fatalf("claimed %+v, want start_step A and B at attempt 1", claimed)
	}
	apply(t, s, r.ID, ev(engine.StepStarted, "A", 0))
	apply(t, s, r.ID, ev(engine.StepStarted, "B", 0))
	for _, c := range claimed {
		complete(t, s, c)
	}
	_, cmds = apply(t, s, r.ID, ev(engine.StepExited, "A", 0))
	if len(cmds) != 1 || cmds[0].Kind != engine.StartStep || cmds[0].Step != "C" {
		t.Fatalf("A's exit gives %+v, want start C", cmds)
	}
	// A true DAG: C is claimable while B still runs; D waits for B.
	pending := claim(t, s, "w1", 10)
	if got := stepsOf(pending); !slices.Equal(got, []string{"C"}) {
		t.Fatalf("with B running, claimable = %v, want only C", got)
	}

	done := map[string]bool{"A": true}
	deps := map[string][]string{"C": {"A"}, "D": {"A", "B"}, "E": {"B"}}
	finishes := 0
	var final engine.State
	// Play C after B has finished too, then whatever the outbox holds.
	apply(t, s, r.ID, ev(engine.StepExited, "B", 0))
	done["B"] = true
	for round := 0; len(pending) > 0; round++ {
		if round > 20 {
			t.Fatal("the run does not finish")
		}
		for _, c := range pending {
			switch c.Kind {
			case store.CommandStartStep:
				for _, d := range deps[c.Step] {
					if !done[d] {
						t.Fatalf("step %s was started before its dependency %s was done", c.Step, d)
					}
				}
				apply(t, s, r.ID, ev(engine.StepStarted, c.Step, 0))
				final, _ = apply(t, s, r.ID, ev(engine.StepExited, c.Step, 0))
				done[c.Step] = true
			case store.CommandFinishRun:
				finishes++
				if c.Status != engine.RunSucceeded {
					t.Fatalf("finish_run status %s, want succeeded", c.Status)
				}
			default:
				t.Fatalf("unexpected command %+v", c)
			}
			complete(t, s, c)
		}
		pending = claim(t, s, "w2", 10)
	}
	if finishes != 1 || final.Status != engine.RunSucceeded {
		t.Fatalf("finish_run seen %d times, final status %s: want once, succeeded", finishes, final.Status)
	}
	// Every command was completed: none comes back, even after C's lease.
	clk.Advance(time.Hour)
	if left := claim(t, s, "w3", 10); len(left) != 0 {
		t.Fatalf("after the run, commands still claimable: %+v", left)
	}
	got := getRun(t, s, tn.ID, r.ID)
	checkProjection(t, got, final)
	checkReplay(t, s, got, final)
	if got.LastSeq != 11 { // requested + 5 started + 5 exited
		t.Fatalf("LastSeq = %d, want 11", got.LastSeq)
	}
}

func stepsOf(cmds []store.Command) []string {
	var names []string
	for _, c := range cmds {
		names = append(names, c.Step)
	}
	return names
}

// testFailFastProjections: a failure cancels the rest, and the step rows
// record exit codes, reasons and the cancel.
func testFailFastProjections(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, diamondYAML, workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "A", Attempt: 1})
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "B", Attempt: 1})
	clk.Advance(time1s)
	_, cmds := apply(t, s, r.ID, engine.Event{Kind: engine.StepExited, Step: "A", Attempt: 1, ExitCode: 3})
	if len(cmds) != 1 || cmds[0].Kind != engine.CancelStep || cmds[0].Step != "B" {
		t.Fatalf("A failing gives %+v, want cancel B", cmds)
	}
	clk.Advance(time1s)
	final, cmds := apply(t, s, r.ID, engine.Event{Kind: engine.StepExited, Step: "B", Attempt: 1, ExitCode: 143})
	if len(cmds) != 1 || cmds[0].Kind != engine.FinishRun || cmds[0].Status != engine.RunFailed {
		t.Fatalf("B ending gives %+v, want finish_run failed", cmds)
	}
	got := getRun(t, s, tn.ID, r.ID)
	checkProjection(t, got, final)
	checkReplay(t, s, got, final)
	if got.Status != engine.RunFailed || got.Reason == "" || got.Steps[0].ExitCode == nil || *got.Steps[0].ExitCode != 3 {
		t.Fatalf("run = %s %q, step A exit %v: want failed with a reason and A's exit code 3", got.Status, got.Reason, deref(got.Steps[0].ExitCode))
	}
	var kinds []store.CommandKind
	for _, c := range claim(t, s, "w", 10) {
		kinds = append(kinds, c.Kind)
	}
	want := []store.CommandKind{store.CommandStartStep, store.CommandStartStep, store.CommandCancelStep, store.CommandFinishRun}
	if !slices.Equal(kinds, want) {
		t.Fatalf("outbox = %v, want %v in order", kinds, want)
	}
}

func testRejectedEventWritesNothing(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, diamondYAML, workflow.Vars{})
	before, _ := apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	for _, e := range []engine.Event{
		{Kind: engine.StepExited, Step: "Z", Attempt: 1},
		{Kind: "step_exploded", Step: "A"},
	} {
		if _, _, err := s.Apply(ctx, r.ID, e); !errors.Is(err, store.ErrRejected) {
			t.Fatalf("Apply(%+v): err = %v, want ErrRejected", e, err)
		}
	}
	if _, _, err := s.Apply(ctx, r.ID+1000, engine.Event{Kind: engine.RunRequested}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Apply to a missing run: err = %v, want ErrNotFound", err)
	}
	got := getRun(t, s, tn.ID, r.ID)
	if got.LastSeq != 1 || len(events(t, s, tn.ID, r.ID)) != 1 {
		t.Fatalf("after rejected events LastSeq = %d: want 1, nothing logged", got.LastSeq)
	}
	checkProjection(t, got, before)
	if n := len(claim(t, s, "w", 100)); n != 2 {
		t.Fatalf("outbox holds %d commands, want the 2 from RunRequested only", n)
	}
}

func testDuplicateEvents(t *testing.T, open Opener) {
	s := open(t)
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, diamondYAML, workflow.Vars{})
	var st engine.State
	for _, e := range []engine.Event{
		{Kind: engine.RunRequested},
		{Kind: engine.StepStarted, Step: "A", Attempt: 1},
		{Kind: engine.StepExited, Step: "A", Attempt: 1},
	} {
		e.Time = NewClock().Now()
		first, _ := apply(t, s, r.ID, e)
		again, cmds := apply(t, s, r.ID, e) // a redelivery
		if len(cmds) != 0 || stateJSON(t, again) != stateJSON(t, first) {
			t.Fatalf("redelivered %s: commands %+v, state changed: want neither", e.Kind, cmds)
		}
		st = again
	}
	got := getRun(t, s, tn.ID, r.ID)
	if got.LastSeq != 3 {
		t.Fatalf("LastSeq = %d, want 3: duplicates are not logged", got.LastSeq)
	}
	checkReplay(t, s, got, st)
	if got := stepsOf(claim(t, s, "w", 100)); !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Fatalf("outbox = %v, want start A, B, then C once", got)
	}
}

// testRetryWakeUp: a schedule_retry becomes a retry_due wake-up that is
// claimable only once its backoff has elapsed; executor_lost retries too.
func testRetryWakeUp(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	tn := tenant(t, s, "acme")
	src := "steps:\n  - name: flaky\n    command: \"false\"\n    retries: 2\n"
	r := createRun(t, s, tn.ID, src, workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	complete(t, s, claim(t, s, "w", 10)[0])
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "flaky", Attempt: 1})
	clk.Advance(5 * time1s)
	exitAt := clk.Now()
	apply(t, s, r.ID, engine.Event{Kind: engine.StepExited, Step: "flaky", Attempt: 1, ExitCode: 1, Time: exitAt})
	if c := claim(t, s, "w", 10); len(c) != 0 {
		t.Fatalf("before the backoff, claimable = %+v, want nothing", c)
	}
	clk.Advance(engine.Backoff(2))
	due := claim(t, s, "w", 10)
	if len(due) != 1 || due[0].Kind != store.CommandRetryDue || due[0].Attempt != 2 || !due[0].AvailableAt.Equal(exitAt.Add(engine.Backoff(2))) {
		t.Fatalf("after the backoff, claimed %+v, want retry_due attempt 2 available at %v", due, exitAt.Add(engine.Backoff(2)))
	}
	_, cmds := apply(t, s, r.ID, engine.Event{Kind: engine.RetryDue, Step: "flaky", Attempt: 2})
	complete(t, s, due[0])
	if len(cmds) != 1 || cmds[0].Kind != engine.StartStep || cmds[0].Attempt != 2 {
		t.Fatalf("RetryDue gives %+v, want start attempt 2", cmds)
	}
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "flaky", Attempt: 2})
	st, _ := apply(t, s, r.ID, engine.Event{Kind: engine.ExecutorLost, Step: "flaky", Attempt: 2, Reason: "server restarted"})
	got := getRun(t, s, tn.ID, r.ID)
	checkProjection(t, got, st)
	if got.Steps[0].Status != engine.StepRetrying || got.Steps[0].Attempt != 2 || got.Steps[0].Reason == "" {
		t.Fatalf("after a lost attempt, step = %+v: want retrying with the reason recorded", got.Steps[0])
	}
	checkReplay(t, s, got, st)
}

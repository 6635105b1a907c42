package engine

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/workflow"
)

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		attempt int
		want    time.Duration
	}{
		{0, 0}, {1, 0}, {2, time.Second}, {3, 2 * time.Second}, {4, 4 * time.Second},
		{7, 32 * time.Second}, {8, 60 * time.Second}, {100, 60 * time.Second}, {math.MaxInt, 60 * time.Second},
	} {
		if got := Backoff(c.attempt); got != c.want {
			t.Errorf("Backoff(%d) = %s, want %s", c.attempt, got, c.want)
		}
	}
}

func TestDecideRejects(t *testing.T) {
	running, _ := mustDecide(t, New(wf(step("A")), Vars{}), requested())
	for _, c := range []struct {
		name  string
		s     State
		ev    Event
		inErr string
	}{
		{"unknown step", running, exited("Z", 1, 0), `step "Z", which is not in workflow`},
		{"unknown kind", running, Event{Kind: "step_paused", Step: "A"}, `unknown event kind "step_paused"`},
		{"no workflow", State{Status: RunRunning, Steps: running.Steps}, exited("A", 1, 0), "engine.Restore"},
		{"unknown dependency", New(wf(step("A", after("B"))), Vars{}), requested(), `step "A" depends on "B", which does not exist`},
		{"duplicate name", New(wf(step("A"), step("A")), Vars{}), requested(), `step name "A" is used twice`},
		{"cycle", New(wf(step("A", after("C")), step("B", after("A")), step("C", after("B")), step("D")), Vars{}), requested(),
			`steps "A", "B", "C" are on, or wait behind, a dependency cycle`},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := deepCopy(c.s)
			got, cmds, err := Decide(c.s, c.ev)
			if err == nil || !strings.Contains(err.Error(), c.inErr) {
				t.Fatalf("error %v, want one containing %q", err, c.inErr)
			}
			if cmds != nil || !reflect.DeepEqual(got, before) {
				t.Fatalf("a rejected event changed the state or issued %v", cmds)
			}
		})
	}
}

func TestDecideRecordsEventTimes(t *testing.T) {
	s := New(wf(step("A", retries(1)), step("B", after("A"))), Vars{})
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	for sec, e := range []Event{requested(), started("A", 1), exited("A", 1, 1), retryDue("A", 2), started("A", 2), exited("A", 2, 0), exited("B", 1, 0)} {
		e.Time = at(sec)
		s, _ = mustDecide(t, s, e)
	}
	a, b := s.Steps[0], s.Steps[1]
	checks := []struct {
		what      string
		got, want time.Time
	}{
		{"run started", s.StartedAt, at(0)}, {"run finished", s.FinishedAt, at(6)},
		{"A queued (attempt 2)", a.QueuedAt, at(3)}, {"A started", a.StartedAt, at(4)}, {"A finished", a.FinishedAt, at(5)},
		{"B queued", b.QueuedAt, at(5)}, {"B started (never reported)", b.StartedAt, time.Time{}}, {"B finished", b.FinishedAt, at(6)},
	}
	for _, c := range checks {
		if !c.got.Equal(c.want) {
			t.Errorf("%s at %v, want %v", c.what, c.got, c.want)
		}
	}
	if a.Attempt != 2 || a.ExitCode == nil || *a.ExitCode != 0 {
		t.Errorf("A attempt %d exit %v, want attempt 2 exit 0", a.Attempt, a.ExitCode)
	}
}

// A state stored as JSON and restored must continue exactly like the live one.
func TestRestoreContinuesLikeTheLiveState(t *testing.T) {
	w := wf(step("A", retries(1)), step("B", after("A"), iff(`steps.A.status == "succeeded"`)), step("C", coe()))
	live := New(w, Vars{Branch: "main", Env: map[string]string{"K": "v"}})
	for _, e := range []Event{requested(), started("A", 1), exited("A", 1, 1), exited("C", 1, 4)} {
		e.Time = t0
		live, _ = mustDecide(t, live, e)
	}
	data, err := json.Marshal(live)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(w, data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(restored, live) {
		t.Fatalf("restored state differs:\n got  %+v\n want %+v", restored, live)
	}
	for _, e := range []Event{retryDue("A", 2), exited("A", 2, 0), exited("B", 1, 0)} {
		e.Time = t0
		var c1, c2 []Command
		live, c1 = mustDecide(t, live, e)
		restored, c2 = mustDecide(t, restored, e)
		if !reflect.DeepEqual(c1, c2) || !reflect.DeepEqual(live, restored) {
			t.Fatalf("after %+v the restored state diverged: %v vs %v", e, c2, c1)
		}
	}
	if live.Status != RunSucceeded {
		t.Fatalf("run %s, want succeeded", live.Status)
	}

	if _, err := Restore(wf(step("A"), step("X"), step("C")), data); err == nil || !strings.Contains(err.Error(), `has step "B" at position 2 but the workflow has "X"`) {
		t.Fatalf("restoring against another workflow: %v", err)
	}
	if _, err := Restore(w, []byte("{")); err == nil {
		t.Fatal("restoring truncated JSON succeeded")
	}
}

// A State built without New (no index) still decides the same way.
func TestDecideWithoutIndex(t *testing.T) {
	w := wf(step("A"), step("B", after("A")))
	s := New(w, Vars{})
	bare := s
	bare.idx = nil
	for _, e := range []Event{requested(), exited("A", 1, 0), exited("B", 1, 0)} {
		var c1, c2 []Command
		s, c1 = mustDecide(t, s, e)
		bare, c2 = mustDecide(t, bare, e)
		if !reflect.DeepEqual(c1, c2) {
			t.Fatalf("after %+v: %v without index, %v with", e, c2, c1)
		}
	}
	if bare.Status != RunSucceeded {
		t.Fatalf("run %s, want succeeded", bare.Status)
	}
}

func TestStepReusedOnlyBeforeTheRunStarts(t *testing.T) {
	wf := &workflow.Workflow{Name: "w", Steps: []workflow.Step{
		{Name: "A", Command: "a"},
		{Name: "B", Command: "b", DependsOn: []string{"A"}},
		{Name: "C", Command: "c", DependsOn: []string{"B"}},
	}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(wf, Vars{})
	s, cmds, err := Decide(s, Event{Kind: StepReused, Time: t0, Step: "A", Reason: "succeeded in run 7"})
	if err != nil || len(cmds) != 0 {
		t.Fatalf("reuse: %v %v", cmds, err)
	}
	if a := s.Steps[0]; a.Status != StepSucceeded || a.Reason != "succeeded in run 7" || a.Attempt != 0 {
		t.Fatalf("A after reuse: %+v", a)
	}
	if s.Status != RunQueued {
		t.Fatalf("reusing a step started the run: %s", s.Status)
	}
	// RunRequested starts B at once: its only dependency is done.
	s, cmds, err = Decide(s, Event{Kind: RunRequested, Time: t0})
	if err != nil || len(cmds) != 1 || cmds[0].Kind != StartStep || cmds[0].Step != "B" {
		t.Fatalf("after RunRequested: %+v %v", cmds, err)
	}
	// Too late now: the run has started.
	before := s
	s, cmds, err = Decide(s, Event{Kind: StepReused, Time: t0, Step: "C"})
	if err != nil || len(cmds) != 0 || s.Steps[2].Status != StepWaiting {
		t.Fatalf("reuse after start was not ignored: %+v %v %v", s.Steps[2], cmds, err)
	}
	if !reflect.DeepEqual(before, s) {
		t.Fatal("an ignored reuse changed the state")
	}
	if _, _, err := Decide(New(wf, Vars{}), Event{Kind: StepReused, Step: "Z"}); err == nil {
		t.Fatal("reusing an unknown step was not rejected")
	}
}

func TestAllStepsReusedFinishesOnRunRequested(t *testing.T) {
	wf := &workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "A", Command: "a"}}}
	s := New(wf, Vars{})
	s, _, _ = Decide(s, Event{Kind: StepReused, Step: "A"})
	s, cmds, err := Decide(s, Event{Kind: RunRequested})
	if err != nil || len(cmds) != 1 || cmds[0].Kind != FinishRun || cmds[0].Status != RunSucceeded {
		t.Fatalf("got %+v %v, want FinishRun succeeded", cmds, err)
	}
	if s.Status != RunSucceeded {
		t.Fatalf("run %s, want succeeded", s.Status)
	}
}

// A state stored by a version that waited for queued steps to report can
// hold a failed run with a queued step no worker will ever take. A cancel
// must end it, although the first cause (the failure) wins the status.
func TestCancelEndsAWedgedStoredRun(t *testing.T) {
	w := wf(step("Arm"), step("Bad"))
	s, _ := mustDecide(t, New(w, Vars{}), requested())
	s, _ = mustDecide(t, s, started("Bad", 1))
	// What the older rules left: Bad failed, Arm still queued.
	s.Steps[1].Status, s.Steps[1].Reason = StepFailed, "exit code 1"
	s.Failed, s.Reason, s.StopReason = true, `step "Bad" failed (exit code 1)`, `run failed: step "Bad" failed`
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := Restore(w, js)
	if err != nil {
		t.Fatal(err)
	}
	next, cmds := mustDecide(t, stored, cancel("stuck"))
	want := []Command{stop("Arm", 1), finish(RunFailed, `step "Bad" failed (exit code 1)`)}
	if !reflect.DeepEqual(cmds, want) {
		t.Fatalf("commands %+v, want %+v", cmds, want)
	}
	if st := next.Steps[0]; st.Status != StepCancelled || st.Reason != s.StopReason {
		t.Errorf("Arm %+v, want cancelled with the stop reason", st)
	}
}

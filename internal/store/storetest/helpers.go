package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

const diamondYAML = `name: diamond
steps:
  - name: A
    command: "true"
  - name: B
    command: "true"
  - name: C
    depends_on: [A]
    command: "true"
  - name: D
    depends_on: [A, B]
    command: "true"
  - name: E
    depends_on: [B]
    command: "true"
`

// wideYAML is n independent steps: many events that all change the state.
func wideYAML(n int) string {
	var b strings.Builder
	b.WriteString("name: wide\nsteps:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: s%d\n    command: \"true\"\n", i)
	}
	return b.String()
}

func tenant(t testing.TB, s store.Store, name string) store.Tenant {
	t.Helper()
	tn, err := s.CreateTenant(context.Background(), name)
	if err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn
}

func createRun(t testing.TB, s store.Store, tenantID int64, src string, vars workflow.Vars) store.Run {
	t.Helper()
	r, err := s.CreateRun(context.Background(), store.NewRun{
		TenantID: tenantID, File: ".runbook.yml", Source: []byte(src), Vars: vars, Trigger: "manual",
	})
	if err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return r
}

func apply(t testing.TB, s store.Store, runID int64, e engine.Event) (engine.State, []engine.Command) {
	t.Helper()
	st, cmds, err := s.Apply(context.Background(), runID, e)
	if err != nil {
		t.Fatalf("Apply(%d, %+v): %v", runID, e, err)
	}
	return st, cmds
}

func getRun(t testing.TB, s store.Store, tenantID, runID int64) store.Run {
	t.Helper()
	r, err := s.GetRun(context.Background(), tenantID, runID)
	if err != nil {
		t.Fatalf("GetRun(%d, %d): %v", tenantID, runID, err)
	}
	return r
}

func events(t testing.TB, s store.Store, tenantID, runID int64) []store.Event {
	t.Helper()
	evs, err := s.Events(context.Background(), tenantID, runID, 0)
	if err != nil {
		t.Fatalf("Events(%d): %v", runID, err)
	}
	return evs
}

func claim(t testing.TB, s store.Store, owner string, limit int) []store.Command {
	t.Helper()
	cmds, err := s.ClaimCommands(context.Background(), owner, limit, leaseTime)
	if err != nil {
		t.Fatalf("ClaimCommands(%q): %v", owner, err)
	}
	return cmds
}

func complete(t testing.TB, s store.Store, c store.Command) {
	t.Helper()
	if err := s.CompleteCommand(context.Background(), c.ID, c.Owner); err != nil {
		t.Fatalf("CompleteCommand(%d): %v", c.ID, err)
	}
}

// stateJSON is the comparable form of a state (Workflow is not encoded).
func stateJSON(t testing.TB, st engine.State) string {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkReplay asserts that the run's event log rebuilds want.
func checkReplay(t testing.TB, s store.Store, r store.Run, want engine.State) {
	t.Helper()
	wf, err := workflow.Parse(r.File, r.Source)
	if err != nil {
		t.Fatalf("stored source does not parse: %v", err)
	}
	evs := events(t, s, r.TenantID, r.ID)
	log := make([]engine.Event, len(evs))
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: the log must be numbered 1, 2, 3, ... without gaps", i, ev.Seq)
		}
		log[i] = ev.Event
	}
	got, err := engine.Replay(wf, r.Vars, log)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if g, w := stateJSON(t, got), stateJSON(t, want); g != w {
		t.Fatalf("replaying %d events gives\n%s\nwant\n%s", len(log), g, w)
	}
}

// checkProjection asserts that the stored step rows and run row match st.
func checkProjection(t testing.TB, r store.Run, st engine.State) {
	t.Helper()
	if r.Status != st.Status || r.Reason != st.Reason || !r.StartedAt.Equal(st.StartedAt) || !r.FinishedAt.Equal(st.FinishedAt) {
		t.Errorf("run projection = %s %q %v..%v, state = %s %q %v..%v", r.Status, r.Reason, r.StartedAt, r.FinishedAt,
			st.Status, st.Reason, st.StartedAt, st.FinishedAt)
	}
	if len(r.Steps) != len(st.Steps) {
		t.Fatalf("run has %d step rows, state %d steps", len(r.Steps), len(st.Steps))
	}
	for i, got := range r.Steps {
		g, w := got.StepState, st.Steps[i]
		if g.Name != w.Name || g.Status != w.Status || g.Attempt != w.Attempt || g.Reason != w.Reason ||
			fmt.Sprint(deref(g.ExitCode)) != fmt.Sprint(deref(w.ExitCode)) ||
			!g.QueuedAt.Equal(w.QueuedAt) || !g.StartedAt.Equal(w.StartedAt) || !g.FinishedAt.Equal(w.FinishedAt) {
			t.Errorf("step row %d = %+v exit %v, state has %+v exit %v", i, g, deref(g.ExitCode), w, deref(w.ExitCode))
		}
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

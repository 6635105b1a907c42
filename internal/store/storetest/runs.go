package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

func testTenants(t *testing.T, open Opener) {
	s := open(t)
	a := tenant(t, s, "acme")
	b := tenant(t, s, "globex")
	if a.ID == b.ID || a.ID <= 0 || a.Name != "acme" || a.CreatedAt.IsZero() {
		t.Fatalf("tenants = %+v, %+v: want distinct positive ids, names and creation times", a, b)
	}
	if _, err := s.CreateTenant(context.Background(), "acme"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second tenant named acme: err = %v, want ErrConflict", err)
	}
}

func testCreateAndGet(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	tn := tenant(t, s, "acme")
	vars := workflow.Vars{Branch: "main", Event: "push", SHA: "abc123", Repo: "acme/app", Env: map[string]string{"K": "v"}}
	nr := store.NewRun{TenantID: tn.ID, ProjectID: 7, File: ".runbook.yml", Source: []byte(diamondYAML),
		Vars: vars, Trigger: "push", RequestedAt: clk.Now().Add(-time1s)}
	created, err := s.CreateRun(context.Background(), nr)
	if err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	r := getRun(t, s, tn.ID, created.ID)
	if r.Status != engine.RunQueued || r.ProjectID != 7 || r.Trigger != "push" || r.File != ".runbook.yml" ||
		!r.RequestedAt.Equal(nr.RequestedAt) || !r.CreatedAt.Equal(clk.Now()) || r.LastSeq != 0 || !r.StartedAt.IsZero() {
		t.Fatalf("new run = %+v", r)
	}
	if r.Vars.Branch != "main" || r.Vars.SHA != "abc123" || r.Vars.Repo != "acme/app" || r.Vars.Event != "push" || r.Vars.Env["K"] != "v" {
		t.Fatalf("vars = %+v, want %+v", r.Vars, vars)
	}
	var names []string
	for _, st := range r.Steps {
		names = append(names, st.Name)
		if st.Status != engine.StepWaiting || st.Attempt != 0 || st.ExitCode != nil {
			t.Errorf("new step %+v: want waiting at attempt 0", st)
		}
	}
	if !slices.Equal(names, []string{"A", "B", "C", "D", "E"}) || !slices.Equal(r.Steps[3].DependsOn, []string{"A", "B"}) {
		t.Fatalf("steps = %+v: want A..E in file order, D depending on A and B", r.Steps)
	}
	if string(r.Source) != diamondYAML {
		t.Fatalf("source changed")
	}
	if _, err := s.GetRun(context.Background(), tn.ID, created.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRun of a missing run: err = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateRun(context.Background(), store.NewRun{TenantID: tn.ID + 1000, File: "x.yml", Source: []byte(diamondYAML)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateRun for a missing tenant: err = %v, want ErrNotFound", err)
	}
}

func testSourceRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	tn := tenant(t, s, "acme")
	// CRLF line ends, a tab in a quoted value, non-ASCII text, a trailing
	// space, a byte order mark and no final newline: kept byte for byte.
	src := "\ufeffname: \"héllo wörld ✓\"\r\nsteps:\r\n  - name: \"步骤\"\r\n    command: \"printf '\\t%s\\n' 🚀\"   \r\n    env:\r\n      X: \"a\tb\" \t"
	if _, err := workflow.Parse(".runbook.yml", []byte(src)); err != nil {
		t.Fatalf("test source does not parse: %v", err)
	}
	buf := []byte(src)
	r := createRun(t, s, tn.ID, string(buf), workflow.Vars{})
	copy(buf, "XXXX") // the store must have kept its own copy
	got := getRun(t, s, tn.ID, r.ID)
	if string(got.Source) != src {
		t.Fatalf("source round trip:\n got %q\nwant %q", got.Source, src)
	}
}

func testInvalidWorkflow(t *testing.T, open Opener) {
	s := open(t)
	tn := tenant(t, s, "acme")
	_, err := s.CreateRun(context.Background(), store.NewRun{TenantID: tn.ID, File: "bad.yml",
		Source: []byte("steps:\n  - name: A\n    depends_on: [Z]\n    command: x\n")})
	var list workflow.ErrorList
	if !errors.Is(err, store.ErrInvalid) || !errors.As(err, &list) {
		t.Fatalf("invalid workflow: err = %v, want ErrInvalid wrapping a workflow.ErrorList", err)
	}
	page, err := s.ListRuns(context.Background(), tn.ID, store.RunFilter{}, store.Page{})
	if err != nil || len(page.Runs) != 0 {
		t.Fatalf("after a rejected run, ListRuns = %+v, %v: want nothing stored", page, err)
	}
}

func testListRuns(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	other := tenant(t, s, "globex")
	createRun(t, s, other.ID, diamondYAML, workflow.Vars{Branch: "main"})
	type spec struct {
		project int64
		branch  string
		start   bool
	}
	specs := []spec{{1, "main", true}, {1, "dev", false}, {2, "main", false}, {0, "main", true}, {2, "dev", true}, {1, "main", false}, {0, "dev", false}}
	var ids []int64
	for _, sp := range specs {
		r, err := s.CreateRun(ctx, store.NewRun{TenantID: tn.ID, ProjectID: sp.project, File: "f.yml",
			Source: []byte(diamondYAML), Vars: workflow.Vars{Branch: sp.branch}})
		if err != nil {
			t.Fatal(err)
		}
		if sp.start {
			apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
		}
		ids = append(ids, r.ID)
	}
	match := func(f store.RunFilter) []int64 { // expected ids, newest first
		var want []int64
		for i := len(specs) - 1; i >= 0; i-- {
			sp := specs[i]
			status := engine.RunQueued
			if sp.start {
				status = engine.RunRunning
			}
			if (f.Status == "" || f.Status == status) && (f.ProjectID == 0 || f.ProjectID == sp.project) && (f.Branch == "" || f.Branch == sp.branch) {
				want = append(want, ids[i])
			}
		}
		return want
	}
	filters := []store.RunFilter{{}, {Status: engine.RunRunning}, {Status: engine.RunQueued}, {ProjectID: 1},
		{Branch: "main"}, {ProjectID: 1, Branch: "main", Status: engine.RunQueued}, {Branch: "nope"}}
	for _, f := range filters {
		for _, limit := range []int{1, 2, 3, 100} {
			var got []int64
			p := store.Page{Limit: limit}
			for pages := 0; ; pages++ {
				if pages > len(specs) {
					t.Fatalf("filter %+v limit %d: pagination does not end", f, limit)
				}
				page, err := s.ListRuns(ctx, tn.ID, f, p)
				if err != nil {
					t.Fatalf("ListRuns(%+v, %+v): %v", f, p, err)
				}
				if len(page.Runs) > limit {
					t.Fatalf("page of %d runs for limit %d", len(page.Runs), limit)
				}
				for _, r := range page.Runs {
					got = append(got, r.ID)
					if r.Source != nil || r.Steps != nil {
						t.Fatalf("ListRuns returned a source or steps: lists must stay light")
					}
				}
				if page.Next == "" {
					break
				}
				p.Cursor = page.Next
			}
			if want := match(f); !slices.Equal(got, want) {
				t.Fatalf("filter %+v limit %d: ids %v, want %v", f, limit, got, want)
			}
		}
	}
	// A run created after the first page was read does not shift the next.
	first, err := s.ListRuns(ctx, tn.ID, store.RunFilter{}, store.Page{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	createRun(t, s, tn.ID, diamondYAML, workflow.Vars{})
	second, err := s.ListRuns(ctx, tn.ID, store.RunFilter{}, store.Page{Limit: 3, Cursor: first.Next})
	if err != nil || len(second.Runs) == 0 || second.Runs[0].ID != ids[len(ids)-4] {
		t.Fatalf("second page after an insert = %+v, %v: want it to start at run %d", second.Runs, err, ids[len(ids)-4])
	}
	for _, bad := range []string{"garbage", "cnVuOi01", "eA"} {
		if _, err := s.ListRuns(ctx, tn.ID, store.RunFilter{}, store.Page{Cursor: bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("cursor %q: err = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.ListRuns(ctx, tn.ID, store.RunFilter{}, store.Page{Limit: -1}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("negative limit: err = %v, want ErrInvalid", err)
	}
}

func testTenantIsolation(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	a, b := tenant(t, s, "acme"), tenant(t, s, "globex")
	r := createRun(t, s, a.ID, diamondYAML, workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	if _, err := s.GetRun(ctx, b.ID, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun by another tenant: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Events(ctx, b.ID, r.ID, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Events by another tenant: err = %v, want ErrNotFound", err)
	}
	page, err := s.ListRuns(ctx, b.ID, store.RunFilter{}, store.Page{})
	if err != nil || len(page.Runs) != 0 {
		t.Errorf("ListRuns by another tenant = %+v, %v: want nothing", page.Runs, err)
	}
	if evs := events(t, s, a.ID, r.ID); len(evs) != 1 {
		t.Errorf("owner sees %d events, want 1", len(evs))
	}
}

func testRunsInProgress(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	queued := createRun(t, s, tn.ID, diamondYAML, workflow.Vars{})
	running := createRun(t, s, tn.ID, diamondYAML, workflow.Vars{})
	apply(t, s, running.ID, engine.Event{Kind: engine.RunRequested})
	apply(t, s, running.ID, engine.Event{Kind: engine.StepStarted, Step: "A", Attempt: 1})
	done := createRun(t, s, tn.ID, diamondYAML, workflow.Vars{})
	apply(t, s, done.ID, engine.Event{Kind: engine.CancelRequested, Reason: "not needed"})

	runs, err := s.RunsInProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != queued.ID || runs[1].ID != running.ID {
		t.Fatalf("RunsInProgress = %d runs, want runs %d and %d", len(runs), queued.ID, running.ID)
	}
	if st := runs[1].Steps[0]; st.Name != "A" || st.Status != engine.StepRunning || st.Attempt != 1 {
		t.Fatalf("running run's step A = %+v: want running attempt 1, so a restarted server can mark it lost", st)
	}
}

func testStats(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	empty, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.RunsByStatus) != 0 || empty.CommandsDue != 0 {
		t.Fatalf("empty store: %+v", empty)
	}
	a, b := tenant(t, s, "acme"), tenant(t, s, "umbrella")
	createRun(t, s, a.ID, diamondYAML, workflow.Vars{}) // queued
	running := createRun(t, s, b.ID, diamondYAML, workflow.Vars{})
	apply(t, s, running.ID, engine.Event{Kind: engine.RunRequested}) // starts A and B
	done := createRun(t, s, a.ID, diamondYAML, workflow.Vars{})
	apply(t, s, done.ID, engine.Event{Kind: engine.CancelRequested})

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[engine.RunStatus]int64{engine.RunQueued: 1, engine.RunRunning: 1, engine.RunCancelled: 1}
	if !reflect.DeepEqual(st.RunsByStatus, want) {
		t.Errorf("RunsByStatus = %v, want %v (across tenants)", st.RunsByStatus, want)
	}
	// Two start_step commands (A and B) and the cancelled run's finish_run.
	if st.CommandsDue != 3 {
		t.Errorf("CommandsDue = %d, want 3", st.CommandsDue)
	}
	cmds, err := s.ClaimCommands(ctx, "w", 10, leaseTime)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if err := s.CompleteCommand(ctx, c.ID, "w"); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Stats(ctx); st.CommandsDue != 0 {
		t.Errorf("after completing every command, CommandsDue = %d", st.CommandsDue)
	}
}

func testPing(t *testing.T, open Opener) {
	s := open(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	s.Close()
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping after Close succeeded: /readyz would call a closed store ready")
	}
}

package scheduler

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// waitStopping waits until Shutdown has begun.
func waitStopping(t *testing.T, s *Scheduler) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !s.stopping.Load() {
		if time.Now().After(deadline) {
			t.Fatal("Shutdown never began")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestShutdownLetsStepsFinish(t *testing.T) {
	r := newRig(t, rigOpts{})
	run := r.submit(`name: g
steps:
  - name: A
    command: 'while [ ! -f go ]; do sleep 0.01; done'
  - name: B
    depends_on: [A]
    command: "true"
`, nil)
	r.waitRun(run.ID, "A to run", stepIs("A", engine.StepRunning))
	done := make(chan error, 1)
	go func() { done <- r.s.Shutdown(context.Background(), time.Minute) }()
	waitStopping(t, r.s)
	ws := filepath.Join(r.dir, "workspaces", strconv.FormatInt(run.ID, 10))
	if err := os.WriteFile(filepath.Join(ws, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	got, err := r.st.GetRun(context.Background(), r.tenant, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := step(got, "A"), step(got, "B"); a.Status != engine.StepSucceeded || b.Status != engine.StepQueued {
		t.Fatalf("A %s, B %s: want A to finish and B not to start during shutdown", a.Status, b.Status)
	}
	assertNoProcs(t, r.dir)

	// The next start runs B without costing it an attempt.
	r.logs.Close() // one log store per directory at a time
	r2 := newRig(t, rigOpts{dir: r.dir, open: func(testing.TB, string) store.Store { return r.st }, tenant: r.tenant})
	got = r2.waitEnd(run.ID)
	if b := step(got, "B"); got.Status != engine.RunSucceeded || b.Attempt != 1 {
		t.Fatalf("after restart: run %s, B %+v", got.Status, b.StepState)
	}
}

func TestShutdownAfterGraceRecordsWhy(t *testing.T) {
	r := newRig(t, rigOpts{})
	run := r.submit("name: g\nsteps:\n  - name: s\n    command: sleep 300\n", nil)
	r.waitRun(run.ID, "s to run", stepIs("s", engine.StepRunning))
	if err := r.s.Shutdown(context.Background(), 100*time.Millisecond); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	assertNoProcs(t, r.dir)
	got, err := r.st.GetRun(context.Background(), r.tenant, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The attempt is lost, not failed: the system queues attempt 2 at
	// once, for the next start or another worker (no retries of its own).
	if s := step(got, "s"); got.Status != engine.RunRunning || s.Status != engine.StepQueued || s.Attempt != 2 {
		t.Fatalf("run %s, step %+v: want attempt 2 queued by the system", got.Status, s.StepState)
	}
	evs := r.events(run.ID)
	i := find(evs, engine.ExecutorLost, "s", 1)
	if i < 0 || !strings.Contains(evs[i].Reason, "grace period 100ms ended") {
		t.Fatalf("want executor_lost with the grace period as reason; events %+v", evs)
	}
}

func TestShutdownForcedBySecondCall(t *testing.T) {
	// The step ignores SIGTERM and the executor would wait a minute before
	// SIGKILL: only forcing ends it promptly.
	r := newRig(t, rigOpts{grace: time.Minute})
	run := r.submit("name: f\nsteps:\n  - name: s\n    command: 'trap \"\" TERM; sleep 300 & wait'\n", nil)
	r.waitRun(run.ID, "s to run", stepIs("s", engine.StepRunning))
	waitProcs(t, r.dir, "the step's processes", func(n int) bool { return n >= 2 })
	first := make(chan error, 1)
	go func() { first <- r.s.Shutdown(context.Background(), time.Hour) }()
	waitStopping(t, r.s)
	if err := r.s.Shutdown(context.Background(), time.Hour); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := <-first; err == nil || !strings.Contains(err.Error(), "forced") {
		t.Fatalf("first Shutdown: %v, want an error saying it was forced", err)
	}
	assertNoProcs(t, r.dir)
}

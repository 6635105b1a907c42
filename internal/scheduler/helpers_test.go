package scheduler

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/sqlite"
	"github.com/runbookhq/runbook/internal/testdb"
)

// waitLimit bounds every wait on a real condition; reaching it fails the test.
const waitLimit = 60 * time.Second

// opener opens a store on fresh storage for one test.
type opener func(tb testing.TB, dir string) store.Store

func openSQLite(tb testing.TB, dir string) store.Store {
	s, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		tb.Fatalf("sqlite.Open(%s): %v", dir, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openPostgres opens a fresh database for the test (see testdb).
func openPostgres(tb testing.TB, _ string) store.Store {
	s, err := postgres.Open(context.Background(), testdb.New(tb))
	if err != nil {
		tb.Fatalf("postgres.Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() }) // runs before the drop: cleanups are LIFO
	return s
}

// eachStore runs fn on SQLite and on Postgres.
func eachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	for _, b := range []struct {
		name string
		open opener
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.open)
		})
	}
}

// rig is a scheduler wired to real parts in a temporary directory.
type rig struct {
	t      testing.TB
	dir    string
	st     store.Store
	logs   *logstore.Store
	bus    *eventbus.Bus
	s      *Scheduler
	tenant int64
}

type rigOpts struct {
	open      opener
	maxSteps  int
	grace     time.Duration // executor SIGTERM→SIGKILL grace
	dir       string        // "" means a fresh temporary directory
	tenant    int64         // 0 means create one
	shared    bool          // Config.Shared
	lease     time.Duration // Config.Lease
	owner     string        // Config.Owner
	poll      time.Duration // Config.PollInterval
	labels    map[string]string
	collector RunCollector                              // Config.Collector
	wrap      func(executor.Executor) executor.Executor // wraps the local executor when set
	// beforeStart runs after the tenant exists and before Start.
	beforeStart func(r *rig)
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	if o.open == nil {
		o.open = openSQLite
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.grace == 0 {
		o.grace = 2 * time.Second
	}
	r := &rig{t: t, dir: o.dir, bus: eventbus.New()}
	r.st = o.open(t, o.dir)
	var err error
	if r.logs, err = logstore.Open(filepath.Join(o.dir, "logs")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.logs.Close() })
	procs, err := NewProcesses(o.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := local.New(local.Options{GracePeriod: o.grace, OnStart: procs.Started})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	var exe executor.Executor = ex
	if o.wrap != nil {
		exe = o.wrap(ex)
	}
	r.s, err = New(Config{
		Store: r.st, Executor: exe, Processes: procs, Collector: o.collector, Logs: r.logs, Bus: r.bus, DataDir: o.dir,
		MaxSteps: o.maxSteps, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Shared: o.shared, PollInterval: o.poll, Labels: o.labels, Lease: o.lease, Owner: o.owner,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.tenant = o.tenant; r.tenant == 0 {
		tn, err := r.st.CreateTenant(context.Background(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		r.tenant = tn.ID
	}
	if o.beforeStart != nil {
		o.beforeStart(r)
	}
	if err := r.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Force: a failed test must not leave processes behind.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r.s.Shutdown(ctx, 0)
	})
	return r
}

func (r *rig) submit(src string, env map[string]string) store.Run {
	r.t.Helper()
	nr := store.NewRun{TenantID: r.tenant, File: ".runbook.yml", Source: []byte(src), Trigger: "api"}
	nr.Vars.Env = env
	run, err := r.s.Submit(context.Background(), nr)
	if err != nil {
		r.t.Fatalf("Submit: %v", err)
	}
	return run
}

// waitRun waits, woken by the run's bus notes, until ok holds for the run.
func (r *rig) waitRun(runID int64, what string, ok func(store.Run) bool) store.Run {
	r.t.Helper()
	sub := r.bus.Subscribe(RunTopic(runID))
	defer sub.Close()
	deadline := time.After(waitLimit)
	for {
		run, err := r.st.GetRun(context.Background(), r.tenant, runID)
		if err != nil {
			r.t.Fatalf("GetRun: %v", err)
		}
		if ok(run) {
			return run
		}
		select {
		case <-sub.C:
		case <-deadline:
			r.t.Fatalf("run %d: waited %v for %s; run is %s, steps %+v", runID, waitLimit, what, run.Status, run.Steps)
		}
	}
}

func (r *rig) waitEnd(runID int64) store.Run {
	r.t.Helper()
	return r.waitRun(runID, "the run to end", func(run store.Run) bool { return run.Status.Terminal() })
}

func (r *rig) events(runID int64) []store.Event {
	r.t.Helper()
	evs, err := r.st.Events(context.Background(), r.tenant, runID, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	return evs
}

func step(run store.Run, name string) store.Step {
	for _, s := range run.Steps {
		if s.Name == name {
			return s
		}
	}
	panic("no step " + name)
}

func stepIs(name string, status engine.StepStatus) func(store.Run) bool {
	return func(run store.Run) bool { return step(run, name).Status == status }
}

// find returns the index of the first event of kind for step (and attempt,
// when not 0), or -1.
func find(evs []store.Event, kind engine.EventKind, stepName string, attempt int) int {
	for i, e := range evs {
		if e.Kind == kind && e.Step == stepName && (attempt == 0 || e.Attempt == attempt) {
			return i
		}
	}
	return -1
}

// procsIn returns the live processes whose workspace is under dir, found by
// their environment, so processes that left their group are found too.
func procsIn(tb testing.TB, dir string) []int {
	tb.Helper()
	want := []byte("\x00RUNBOOK_WORKSPACE=" + dir)
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	var pids []int
	for _, p := range paths {
		env, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(append([]byte{0}, env...), want) {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitProcs waits until ok holds for the number of processes under dir.
func waitProcs(tb testing.TB, dir, what string, ok func(n int) bool) {
	tb.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		pids := procsIn(tb, dir)
		if ok(len(pids)) {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
			tb.Fatalf("waited %v for %s: processes %v", waitLimit, what, pids)
		}
		time.Sleep(10 * time.Millisecond) // polling /proc: there is nothing to wait on
	}
}

// assertNoProcs fails if a step process under dir is alive (and kills it).
func assertNoProcs(tb testing.TB, dir string) {
	tb.Helper()
	if pids := procsIn(tb, dir); len(pids) > 0 {
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		tb.Fatalf("step processes outlived their step: %v", pids)
	}
}

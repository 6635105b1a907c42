package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/runner"
	"github.com/runbookhq/runbook/internal/workflow"
)

func parse(t *testing.T, src string) *workflow.Workflow {
	t.Helper()
	wf, err := workflow.Parse(".runbook.yml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return wf
}

// recorder is an Observer that keeps what it hears.
type recorder struct {
	mu       sync.Mutex
	changes  []engine.StepState
	lines    map[string][]string
	running  chan string // step names as they start running
	finished int
}

func newRecorder() *recorder {
	return &recorder{lines: map[string][]string{}, running: make(chan string, 100)}
}

func (r *recorder) StepChanged(s engine.StepState) {
	r.mu.Lock()
	r.changes = append(r.changes, s)
	r.mu.Unlock()
	if s.Status == engine.StepRunning {
		r.running <- s.Name
	}
}

func (r *recorder) Line(step string, _ int, l logline.Line) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[step] = append(r.lines[step], l.Stream.String()+":"+string(l.Text))
}

func (r *recorder) RunFinished(engine.State) {
	r.mu.Lock()
	r.finished++
	r.mu.Unlock()
}

func setup(t *testing.T) (runner.Config, *recorder, *logstore.Store) {
	t.Helper()
	exe, err := local.New(local.Options{GracePeriod: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exe.Close() })
	logs, err := logstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	return runner.Config{
		RunID:     "run-" + strings.ReplaceAll(t.Name(), "/", "-"),
		Workspace: t.TempDir(),
		Executor:  exe,
		Logs:      logs,
		Observer:  rec,
	}, rec, logs
}

func statuses(s engine.State) map[string]engine.StepStatus {
	m := map[string]engine.StepStatus{}
	for _, st := range s.Steps {
		m[st.Name] = st.Status
	}
	return m
}

func TestDiamondRunsAsATrueDAG(t *testing.T) {
	cfg, rec, _ := setup(t)
	// B only finishes once C has run, and C needs only A: in a levelled
	// engine C would wait for B and this run would never end (B gives up
	// after 20 s and fails).
	wf := parse(t, `
steps:
  - name: A
    command: echo a
  - name: B
    command: |
      for i in $(seq 2000); do [ -f c.done ] && exit 0; sleep 0.01; done
      echo "C never ran while B was running" >&2; exit 1
  - name: C
    depends_on: [A]
    command: touch c.done
  - name: D
    depends_on: [A, B]
    command: echo d
  - name: E
    depends_on: [B]
    command: echo e
`)
	res, err := runner.Run(context.Background(), wf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Status != engine.RunSucceeded {
		t.Fatalf("run %s (%s); steps %v", res.State.Status, res.State.Reason, statuses(res.State))
	}
	for _, s := range res.State.Steps {
		if s.Status != engine.StepSucceeded {
			t.Errorf("step %s is %s", s.Name, s.Status)
		}
	}
	byName := map[string]engine.StepState{}
	for _, s := range res.State.Steps {
		byName[s.Name] = s
	}
	if !byName["D"].StartedAt.After(byName["B"].FinishedAt) || !byName["D"].StartedAt.After(byName["A"].FinishedAt) {
		t.Errorf("D started before its dependencies finished")
	}
	if rec.finished != 1 {
		t.Errorf("RunFinished called %d times, want 1", rec.finished)
	}
}

func TestFailFastCancelsRunningAndUnstartedSteps(t *testing.T) {
	cfg, rec, _ := setup(t)
	wf := parse(t, `
steps:
  - name: Slow
    command: sleep 300
  - name: Lint
    command: |
      echo "main.go:3: too long" >&2
      exit 3
  - name: Package
    depends_on: [Slow, Lint]
    command: echo never
`)
	// Lint may only fail once Slow is running, so Slow is really cancelled
	// and not just never started.
	wf.Steps[1].Command = "while [ ! -f slow.started ]; do sleep 0.01; done\n" + wf.Steps[1].Command
	wf.Steps[0].Command = "touch slow.started; " + wf.Steps[0].Command

	start := time.Now()
	res, err := runner.Run(context.Background(), wf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := statuses(res.State)
	want := map[string]engine.StepStatus{"Slow": engine.StepCancelled, "Lint": engine.StepFailed, "Package": engine.StepCancelled}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if res.State.Status != engine.RunFailed {
		t.Errorf("run %s, want failed", res.State.Status)
	}
	// Slow sleeps 300s: a run that waited for it would take that long,
	// whatever the machine's load.
	if elapsed := time.Since(start); elapsed > 150*time.Second {
		t.Errorf("the run took %v: Slow was not stopped", elapsed)
	}
	if lines := rec.lines["Lint"]; len(lines) != 1 || lines[0] != "stderr:main.go:3: too long" {
		t.Errorf("Lint output %q", lines)
	}
}

func TestCancelStopsTheRun(t *testing.T) {
	cfg, rec, _ := setup(t)
	wf := parse(t, `
steps:
  - name: Long
    command: sleep 60
  - name: After
    depends_on: [Long]
    command: echo never
`)
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-rec.running
		cancel(context.Canceled)
	}()
	res, err := runner.Run(ctx, wf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Status != engine.RunCancelled {
		t.Fatalf("run %s, want cancelled", res.State.Status)
	}
	for _, s := range res.State.Steps {
		if s.Status != engine.StepCancelled {
			t.Errorf("step %s is %s, want cancelled", s.Name, s.Status)
		}
	}
}

func TestLogsAreStoredNumberedAndApart(t *testing.T) {
	cfg, _, logs := setup(t)
	wf := parse(t, `
steps:
  - name: Print
    command: |
      echo one
      echo two >&2
      echo three
`)
	res, err := runner.Run(context.Background(), wf, cfg)
	if err != nil || res.State.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %v", res.State.Status, err)
	}
	lines, err := logs.Read(logstore.Key{Run: cfg.RunID, Step: "Print", Attempt: 1}, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, l := range lines {
		if l.N != int64(i+1) {
			t.Errorf("line %d numbered %d", i+1, l.N)
		}
		got = append(got, l.Stream.String()+":"+string(l.Text))
	}
	// The two pipes are read concurrently, so only per-stream order is fixed.
	var out, errs []string
	for _, g := range got {
		if strings.HasPrefix(g, "stdout:") {
			out = append(out, g)
		} else {
			errs = append(errs, g)
		}
	}
	if !reflect.DeepEqual(out, []string{"stdout:one", "stdout:three"}) || !reflect.DeepEqual(errs, []string{"stderr:two"}) {
		t.Errorf("stored lines %q", got)
	}
}

func TestEnvLayersAndConditions(t *testing.T) {
	cfg, rec, _ := setup(t)
	wf := parse(t, `
global:
  env:
    A: global
    B: global
    C: global
steps:
  - name: Show
    env:
      C: step
    command: echo "$A $B $C"
  - name: OnMain
    if: 'branch == "main" && env.B == "flag"'
    command: echo deployed
  - name: OnOther
    if: 'branch != "main"'
    command: echo never
`)
	cfg.Vars = workflow.Vars{Branch: "main", Env: map[string]string{"A": "global", "B": "flag", "C": "global"}}
	res, err := runner.Run(context.Background(), wf, cfg)
	if err != nil || res.State.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %v", res.State.Status, err)
	}
	if got := rec.lines["Show"]; len(got) != 1 || got[0] != "stdout:global flag step" {
		t.Errorf("Show printed %q, want global env, --env over it, step env over both", got)
	}
	if st := statuses(res.State); st["OnMain"] != engine.StepSucceeded || st["OnOther"] != engine.StepSkipped {
		t.Errorf("conditions gave %v", st)
	}
}

func TestRetriesThenReplayRebuildsState(t *testing.T) {
	cfg, _, _ := setup(t)
	wf := parse(t, `
steps:
  - name: Flaky
    retries: 2
    command: |
      n=$(cat tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > tries
      [ "$n" -ge 2 ]
  - name: Timeout
    timeout: 200ms
    continue_on_error: true
    command: sleep 30
`)
	res, err := runner.Run(context.Background(), wf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]engine.StepState{}
	for _, s := range res.State.Steps {
		st[s.Name] = s
	}
	if st["Flaky"].Status != engine.StepSucceeded || st["Flaky"].Attempt != 2 {
		t.Errorf("Flaky %s after %d attempts, want succeeded after 2", st["Flaky"].Status, st["Flaky"].Attempt)
	}
	if st["Timeout"].Status != engine.StepFailed || !strings.Contains(st["Timeout"].Reason, "timed out") {
		t.Errorf("Timeout %s (%s), want failed: timed out", st["Timeout"].Status, st["Timeout"].Reason)
	}
	if res.State.Status != engine.RunSucceeded {
		t.Errorf("run %s, want succeeded (the timeout continues on error)", res.State.Status)
	}
	tries, _ := os.ReadFile(filepath.Join(cfg.Workspace, "tries"))
	if strings.TrimSpace(string(tries)) != "2" {
		t.Errorf("Flaky ran %q times, want 2", tries)
	}
	replayed, err := engine.Replay(wf, cfg.Vars, res.Events)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(replayed, res.State) {
		t.Errorf("replay differs:\n got %+v\nwant %+v", replayed, res.State)
	}
}

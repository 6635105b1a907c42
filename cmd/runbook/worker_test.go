package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/testdb"
)

// workerProc is a real `runbook worker` child process.
type workerProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

func (w *workerProc) log() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.logs.String()
}

// startWorker starts the binary and waits for its "started" log line.
func startWorker(t *testing.T, dbURL string, args ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"worker", "--database-url", dbURL, "--data-dir", t.TempDir(), "--log-format", "json"}, sandboxChoice(args)...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{cmd: cmd, done: make(chan struct{})}
	started := make(chan struct{}, 1)
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			w.mu.Lock()
			w.logs.Write(append(line, '\n'))
			w.mu.Unlock()
			var rec struct{ Msg string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "runbook worker started" {
				started <- struct{}{}
			}
		}
		cmd.Wait()
	}()
	select {
	case <-started:
	case <-w.done:
		t.Fatalf("worker exited before starting:\n%s", w.log())
	case <-time.After(waitLimit):
		cmd.Process.Kill()
		t.Fatalf("worker did not start within %v:\n%s", waitLimit, w.log())
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.done
	})
	return w
}

// pgRig is a test database with a tenant, driven from this process: it
// creates runs as a server would (its NOTIFY wakes the workers).
type pgRig struct {
	url    string
	st     *postgres.Store
	tenant int64
}

func newPGRig(t *testing.T) *pgRig {
	t.Helper()
	url := testdb.New(t)
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tn, err := st.CreateTenant(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return &pgRig{url: url, st: st, tenant: tn.ID}
}

func (r *pgRig) submit(t *testing.T, yaml string) int64 {
	t.Helper()
	ctx := context.Background()
	run, err := r.st.CreateRun(ctx, store.NewRun{TenantID: r.tenant, File: ".runbook.yml", Source: []byte(yaml), Trigger: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.st.Apply(ctx, run.ID, engine.Event{Kind: engine.RunRequested}); err != nil {
		t.Fatal(err)
	}
	return run.ID
}

func (r *pgRig) get(t *testing.T, id int64) store.Run {
	t.Helper()
	run, err := r.st.GetRun(context.Background(), r.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func (r *pgRig) waitEnded(t *testing.T, id int64) store.Run {
	t.Helper()
	var run store.Run
	waitFor(t, fmt.Sprintf("run %d to end", id), func() bool {
		run = r.get(t, id)
		return run.Status.Terminal()
	})
	return run
}

func TestWorkerRefusesSQLite(t *testing.T) {
	for _, args := range [][]string{{"worker"}, {"worker", "--database-url", "./runbook-data/runbook.db"}} {
		r := runbook(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "runbook worker needs --database-url postgres://") ||
			!strings.Contains(r.stderr, "SQLite") {
			t.Errorf("runbook %v: exit %d, stderr %q; want exit 2 explaining that SQLite belongs to one process", args, r.code, r.stderr)
		}
	}
	r := runbook(t, "server", "--run-steps=false", "--data-dir", t.TempDir())
	if r.code != 2 || !strings.Contains(r.stderr, "--run-steps=false needs --database-url") {
		t.Errorf("server --run-steps=false on SQLite: exit %d, stderr %q", r.code, r.stderr)
	}
}

// Two workers; one is SIGKILLed while it runs a step. Once its lease
// expires the other records the attempt lost (with the dead worker's name)
// and the engine's retry runs on the survivor.
func TestWorkerKilledStepLostAndRetriedElsewhere(t *testing.T) {
	rig := newPGRig(t)
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	const lease = 2 * time.Second
	a := startWorker(t, rig.url, "--id", "worker-a", "--lease", lease.String(), "--safety-poll", "200ms")
	// Attempt 1 execs sleep, so the only process dies with the worker
	// (Pdeathsig); attempt 2 succeeds at once.
	id := rig.submit(t, fmt.Sprintf(`steps:
  - name: long
    retries: 1
    command: |
      echo "$RUNBOOK_ATTEMPT $$" >> %q
      if [ "$RUNBOOK_ATTEMPT" = 1 ]; then exec sleep 300; fi
`, count))
	waitFor(t, "attempt 1 to start on worker-a", func() bool {
		b, _ := os.ReadFile(count)
		return strings.HasPrefix(string(b), "1 ")
	})
	b := startWorker(t, rig.url, "--id", "worker-b", "--lease", lease.String(), "--safety-poll", "200ms")
	a.cmd.Process.Kill()
	<-a.done
	killed := time.Now()

	run := rig.waitEnded(t, id)
	if run.Status != engine.RunSucceeded {
		t.Fatalf("run %s (%s), want succeeded\nworker-b:\n%s", run.Status, run.Reason, b.log())
	}
	evs, err := rig.st.Events(context.Background(), rig.tenant, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lost *store.Event
	starts := 0
	for i, e := range evs {
		switch e.Kind {
		case engine.ExecutorLost:
			lost = &evs[i]
		case engine.StepStarted:
			starts++
		}
	}
	if lost == nil || lost.Attempt != 1 || !strings.Contains(lost.Reason, "worker worker-a stopped renewing its lease") {
		t.Fatalf("lost event = %+v, want attempt 1 lost naming worker-a; events %+v", lost, evs)
	}
	// Detected once the lease ran out, not by waiting for a restart (which
	// never comes here): on a quiet machine within the lease plus the
	// survivor's 200ms safety poll; the bound leaves a loaded machine room.
	if took := lost.Time.Sub(killed); took > lease+mwTakeoverSlack {
		t.Errorf("the loss was recorded %v after the kill, with a %v lease", took, lease)
	}
	t.Logf("the loss was recorded %v after the kill (lease %v)", lost.Time.Sub(killed).Round(time.Millisecond), lease)
	if starts != 2 {
		t.Errorf("%d step starts, want 2 (attempt 1 on worker-a, attempt 2 on worker-b)", starts)
	}
	got, _ := os.ReadFile(count)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "2 ") {
		t.Errorf("attempts run: %q, want attempt 1 then attempt 2", lines)
	}
	if !strings.Contains(b.log(), `"previous_owner":"worker-a"`) {
		t.Errorf("worker-b did not log the takeover:\n%s", b.log())
	}
}

// A command enqueued by another process is claimed at once through
// LISTEN/NOTIFY: the worker's safety poll is an hour, so without the
// notification the run could not end within the test's wait.
func TestWorkerWokenByNotify(t *testing.T) {
	rig := newPGRig(t)
	startWorker(t, rig.url, "--safety-poll", "1h")
	for i := range 3 {
		id := rig.submit(t, "steps:\n  - {name: a, command: \"true\"}\n  - {name: b, depends_on: [a], command: \"true\"}\n")
		if run := rig.waitEnded(t, id); run.Status != engine.RunSucceeded {
			t.Fatalf("run %d: %s (%s)", i, run.Status, run.Reason)
		}
	}
}

// A step whose runs_on no live worker has stays queued and says why, in
// the run API of a server that runs no steps itself; a worker with the
// label then takes it.
func TestRunsOnWithoutMatchingWorkerSaysWhy(t *testing.T) {
	rig := newPGRig(t)
	startWorker(t, rig.url, "--labels", "arch=amd64")
	srv := startServer(t, t.TempDir(), "--database-url", rig.url, "--secret", strings.Repeat("s", 40), "--run-steps=false")
	token, tenant := srv.signIn(t)
	wf := "steps:\n  - name: arm\n    command: \"true\"\n    runs_on: {arch: arm64}\n"
	var created struct{ ID int64 }
	srv.api(t, "POST", fmt.Sprintf("/api/v1/tenants/%d/runs", tenant), token, strings.NewReader(wf), 201, &created)
	var step struct {
		Status        string `json:"status"`
		WaitingReason string `json:"waiting_reason"`
	}
	waitFor(t, "the waiting reason in the run API", func() bool {
		var v struct {
			Steps []json.RawMessage `json:"steps"`
		}
		srv.api(t, "GET", fmt.Sprintf("/api/v1/tenants/%d/runs/%d", tenant, created.ID), token, nil, 200, &v)
		json.Unmarshal(v.Steps[0], &step)
		return step.WaitingReason != ""
	})
	if step.Status != "queued" || step.WaitingReason != "no worker with labels arch=arm64" {
		t.Fatalf("step = %+v, want queued with \"no worker with labels arch=arm64\"", step)
	}
	startWorker(t, rig.url, "--labels", "arch=arm64")
	waitFor(t, "the arm64 worker to run the step", func() bool {
		return srv.run(t, token, tenant, created.ID).Status == "succeeded"
	})
}

// SIGTERM: the worker stops claiming, lets its step run for --grace, then
// stops it and records it lost with the reason, so the engine decides at
// once; it leaves no process and no worker row behind.
func TestWorkerSIGTERMRecordsStepsAfterGrace(t *testing.T) {
	rig := newPGRig(t)
	marker := fmt.Sprintf("RB_WORKER_TERM_%d", time.Now().UnixNano())
	// --lost-retries 0: the lost attempt fails the step (it has no
	// retries) instead of being started again by the system.
	w := startWorker(t, rig.url, "--id", "worker-t", "--grace", "1s", "--lost-retries", "0")
	id := rig.submit(t, fmt.Sprintf("global:\n  env:\n    %s: \"1\"\nsteps:\n  - name: Long\n    command: sleep 300 & sleep 300\n", marker))
	waitFor(t, "the step to start", func() bool { return rig.get(t, id).Steps[0].Status == engine.StepRunning })

	start := time.Now()
	w.cmd.Process.Signal(syscall.SIGTERM)
	<-w.done
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, w.log())
	}
	// The step sleeps 300s: a shutdown that waited for it would take that
	// long, whatever the machine's load.
	if took := time.Since(start); took > 150*time.Second {
		t.Errorf("shutdown took %v with a 1s grace period: it waited for the step", took)
	}
	if n := markedProcesses(t, marker); n != 0 {
		t.Errorf("%d processes of the step outlived the worker", n)
	}
	// Recorded by the worker itself before it exited: no lease to wait for.
	run := rig.get(t, id)
	if run.Status != engine.RunFailed || !strings.Contains(run.Steps[0].Reason, "the worker shut down before the step finished (grace period 1s ended)") {
		t.Errorf("run %s, step %+v; want failed with the worker's shutdown as the reason", run.Status, run.Steps[0])
	}
	ws, err := rig.st.ListWorkers(context.Background(), time.Hour)
	if err != nil || len(ws) != 0 {
		t.Errorf("workers after shutdown = %+v, %v; want none", ws, err)
	}
}

func TestWorkerKubernetesNeedsAnImage(t *testing.T) {
	url := testdb.New(t)
	r := runbook(t, "worker", "--database-url", url, "--data-dir", t.TempDir(), "--executor", "kubernetes")
	if r.code != 2 || !strings.Contains(r.stderr, "--executor kubernetes needs --kubernetes-image") {
		t.Errorf("exit %d, stderr %q; want exit 2 asking for --kubernetes-image", r.code, r.stderr)
	}
	r = runbook(t, "worker", "--database-url", url, "--data-dir", t.TempDir(), "--executor", "docker")
	if r.code != 2 || !strings.Contains(r.stderr, `--executor "docker": want local or kubernetes`) {
		t.Errorf("exit %d, stderr %q; want exit 2 naming the executors", r.code, r.stderr)
	}
}

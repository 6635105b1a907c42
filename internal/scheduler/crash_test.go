package scheduler

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

const (
	crashEnv   = "RUNBOOK_SCHEDULER_CRASH_DIR"
	crashDBEnv = "RUNBOOK_SCHEDULER_CRASH_DB"
	// crashLease is the lease of the shared crash test: far longer than
	// the test may take, so a step recorded lost was not lost by expiry.
	crashLease = time.Hour
	childReady = "crash child: run submitted; waiting to be killed"
)

// "once" must not run again after the crash; "long" is killed with the
// server on attempt 1 and finishes at once on attempt 2. It has no retries
// of its own: a lost attempt is the system's to retry (issue 13, item 4.2).
const crashYAML = `name: crash
steps:
  - name: once
    command: echo once >> "$COUNT"
  - name: long
    depends_on: [once]
    command: |
      echo "long $RUNBOOK_ATTEMPT" >> "$COUNT"
      if [ "$RUNBOOK_ATTEMPT" = 1 ]; then sleep 300 & sleep 300; fi
`

// TestCrashRecovery kills a server (a child process running a scheduler)
// with SIGKILL while a step runs, then starts a new scheduler on its data.
func TestCrashRecovery(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(t, dir) // never returns
	}
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	// Open the store only once the child has created it: two processes
	// migrating a new SQLite file at once is not what this test is about.
	kill := startCrashChild(t, crashEnv+"="+dir)
	st := openSQLite(t, dir)
	deadline := time.Now().Add(waitLimit)
	for {
		run, err := st.GetRun(context.Background(), 1, 1)
		if err == nil && step(run, "long").Status == engine.StepRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child never ran step long (last error %v)", err)
		}
		time.Sleep(10 * time.Millisecond) // another process writes: nothing to wait on here
	}
	waitProcs(t, dir, "bash and its two sleeps", func(n int) bool { return n == 3 })

	kill()
	// Pdeathsig takes the shell; the sleeps are orphaned and live on.
	waitProcs(t, dir, "the shell to die and the sleeps to outlive the server", func(n int) bool { return n == 2 })

	r := newRig(t, rigOpts{dir: dir, tenant: 1, open: func(testing.TB, string) store.Store { return st }})
	waitProcs(t, dir, "the orphans to be reaped", func(n int) bool { return n == 0 })
	run := r.waitEnd(1)
	if long := step(run, "long"); run.Status != engine.RunSucceeded || long.Attempt != 2 {
		t.Fatalf("run %s (%s), long %+v: want success on attempt 2", run.Status, run.Reason, long.StepState)
	}
	evs := r.events(1)
	if i := find(evs, engine.ExecutorLost, "long", 1); i < 0 || evs[i].Reason != LostOnRestart {
		t.Errorf("want executor_lost for long attempt 1 with reason %q; events %+v", LostOnRestart, evs)
	}
	b, err := os.ReadFile(count)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "once\nlong 1\nlong 2\n" {
		t.Errorf("steps ran %q: each completed step must run once", got)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "pgids")); len(left) != 0 {
		t.Errorf("process records left: %v", left)
	}
}

// crashChild runs a server's scheduler on dir, submits the crash workflow,
// and waits to be killed. With a database URL in the environment it runs
// as one of several processes sharing that Postgres, with a long lease.
func crashChild(t *testing.T, dir string) {
	o := rigOpts{dir: dir}
	if url := os.Getenv(crashDBEnv); url != "" {
		o.open = func(tb testing.TB, _ string) store.Store { return openURL(tb, url) }
		o.shared, o.lease = true, crashLease
	}
	r := newRig(t, o)
	r.submit(crashYAML, map[string]string{"COUNT": filepath.Join(dir, "count")})
	fmt.Println(childReady)
	select {}
}

func openURL(tb testing.TB, url string) store.Store {
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("postgres.Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Issue 13, item 4.7: on a shared Postgres, a server killed mid-step and
// restarted on the same data directory used to wait out the whole lease
// before its own dead step was recorded lost. It reaps that step's
// processes at start, so it records the attempt lost at once; a step
// another live worker runs is left to that worker's lease.
func TestSharedRestartRecordsItsOwnStepLostAtOnce(t *testing.T) {
	testdb.Require(t)
	url := testdb.New(t)
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	kill := startCrashChild(t, crashEnv+"="+dir, crashDBEnv+"="+url)
	st := openURL(t, url)
	ctx := context.Background()
	deadline := time.Now().Add(waitLimit)
	for {
		run, err := st.GetRun(ctx, 1, 1)
		if err == nil && step(run, "long").Status == engine.StepRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child never ran step long (last error %v)", err)
		}
		time.Sleep(10 * time.Millisecond) // another process writes: nothing to wait on here
	}
	waitProcs(t, dir, "bash and its two sleeps", func(n int) bool { return n == 3 })

	// Another live worker runs a step of another run, under its own lease.
	other, err := st.CreateAndAdmit(ctx, store.NewRun{TenantID: 1, File: ".runbook.yml", Trigger: "api",
		Source: []byte("steps:\n  - name: elsewhere\n    runs_on: {host: other}\n    command: sleep 300\n")})
	if err != nil {
		t.Fatal(err)
	}
	claimed, _, err := st.ClaimFor(ctx, store.Claim{Owner: "other-worker", Limit: 10, Lease: crashLease, Labels: map[string]string{"host": "other"}})
	if err != nil || len(claimed) != 1 || claimed[0].Step != "elsewhere" {
		t.Fatalf("the other worker claimed %+v, %v", claimed, err)
	}
	if _, _, err := st.Apply(ctx, other.ID, engine.Event{Kind: engine.StepStarted, Step: "elsewhere", Attempt: 1}); err != nil {
		t.Fatal(err)
	}

	kill()
	r := newRig(t, rigOpts{dir: dir, tenant: 1, shared: true, lease: crashLease, open: func(testing.TB, string) store.Store { return st }})
	waitProcs(t, dir, "the orphans to be reaped", func(n int) bool { return n == 0 })
	run := r.waitEnd(1)
	if long := step(run, "long"); run.Status != engine.RunSucceeded || long.Attempt != 2 {
		t.Fatalf("run %s (%s), long %+v: want success on attempt 2", run.Status, run.Reason, long.StepState)
	}
	evs := r.events(1)
	started, lost := find(evs, engine.StepStarted, "long", 1), find(evs, engine.ExecutorLost, "long", 1)
	if lost < 0 || evs[lost].Reason != LostOnRestart || lost > find(evs, engine.StepStarted, "long", 2) {
		t.Fatalf("want long's attempt 1 recorded lost by the restart (%q) before attempt 2 started; events %+v", LostOnRestart, evs)
	}
	// Recorded by the restart, not by a takeover after the lease expired.
	if expiry := evs[started].Time.Add(crashLease); !evs[lost].Time.Before(expiry) {
		t.Errorf("attempt 1 recorded lost at %v, after its lease expired at %v", evs[lost].Time, expiry)
	}
	b, err := os.ReadFile(count)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "once\nlong 1\nlong 2\n" {
		t.Errorf("steps ran %q: each completed step must run once", got)
	}
	// The other worker's step is still its own.
	o := r.waitRun(other.ID, "the other worker's step to be left alone", func(store.Run) bool { return true })
	if el := step(o, "elsewhere"); el.Status != engine.StepRunning || el.Attempt != 1 {
		t.Errorf("the other worker's step %+v: a restart must not touch another live worker's step", el.StepState)
	}
	if i := find(r.events(other.ID), engine.ExecutorLost, "elsewhere", 0); i >= 0 {
		t.Errorf("the other worker's step was recorded lost")
	}
}

// A worker restarted under the same name (--id) finds the start_step its
// dead predecessor held, once that lease expires, under its own name. The
// step is running at that attempt with nobody running it: it must be
// recorded lost, not taken for this process's own command and dropped,
// which left the run running forever.
func TestRestartUnderTheSameNameTakesOverItsOwnDeadStep(t *testing.T) {
	testdb.Require(t)
	st := openPostgres(t, "")
	ctx := context.Background()
	tn, err := st.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.CreateAndAdmit(ctx, store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Trigger: "api",
		Source: []byte("steps:\n  - name: s\n    command: \"true\"\n")})
	if err != nil {
		t.Fatal(err)
	}
	// The predecessor "w1" claimed and started the step, then died: no
	// process record is left in this data directory to tell.
	const lease = time.Second
	claimed, _, err := st.ClaimFor(ctx, store.Claim{Owner: "w1", Limit: 10, Lease: lease})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim %+v, %v", claimed, err)
	}
	if _, _, err := st.Apply(ctx, run.ID, engine.Event{Kind: engine.StepStarted, Step: "s", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOpts{open: func(testing.TB, string) store.Store { return st }, tenant: tn.ID, shared: true, owner: "w1", lease: lease})
	done := r.waitEnd(run.ID)
	if s := step(done, "s"); done.Status != engine.RunSucceeded || s.Attempt != 2 {
		t.Fatalf("run %s, step %+v: want attempt 1 lost and attempt 2 to succeed", done.Status, s.StepState)
	}
	evs := r.events(run.ID)
	if i := find(evs, engine.ExecutorLost, "s", 1); i < 0 || evs[i].Reason != LostLease("w1") {
		t.Errorf("want attempt 1 recorded lost by its expired lease; events %+v", evs)
	}
}

// startCrashChild runs crashChild in a new process of this test binary
// with env added, and returns once it has submitted its run. kill SIGKILLs
// it and reaps it; a child not killed by the test is killed at cleanup.
func startCrashChild(t *testing.T, env ...string) (kill func()) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
	child.Env = append(os.Environ(), env...)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			child.Process.Signal(syscall.SIGKILL)
			child.Wait()
		})
	}
	t.Cleanup(kill)
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), childReady) {
		t.Log("child:", sc.Text())
	}
	go io.Copy(io.Discard, out)
	return kill
}

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
	"syscall"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

const (
	crashEnv   = "RUNBOOK_SCHEDULER_CRASH_DIR"
	childReady = "crash child: run submitted; waiting to be killed"
)

// "once" must not run again after the crash; "long" is killed with the
// server on attempt 1 and finishes at once on attempt 2.
const crashYAML = `name: crash
steps:
  - name: once
    command: echo once >> "$COUNT"
  - name: long
    depends_on: [once]
    retries: 1
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
	child := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
	child.Env = append(os.Environ(), crashEnv+"="+dir)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			child.Process.Kill()
			child.Wait()
		}
	}()

	// Open the store only once the child has created it: two processes
	// migrating a new SQLite file at once is not what this test is about.
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), childReady) {
		t.Log("child:", sc.Text())
	}
	go io.Copy(io.Discard, out)
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

	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	killed = true
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
// and waits to be killed.
func crashChild(t *testing.T, dir string) {
	r := newRig(t, rigOpts{dir: dir})
	r.submit(crashYAML, map[string]string{"COUNT": filepath.Join(dir, "count")})
	fmt.Println(childReady)
	select {}
}

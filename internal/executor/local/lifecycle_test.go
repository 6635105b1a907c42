package local

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
)

// cancelWhenSeen runs spec and cancels it once the step printed "ready",
// i.e. once its traps are installed. It returns when Run returns, and when
// the cancel was sent.
func cancelWhenSeen(t *testing.T, e *Executor, spec executor.Spec) (executor.Result, *memSink, time.Time) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSink("ready")
	var cancelledAt time.Time
	go func() {
		select {
		case <-s.seen:
			cancelledAt = time.Now()
			cancel()
		case <-ctx.Done(): // Run returned without printing "ready"
		}
	}()
	res := e.Run(ctx, spec, s)
	return res, s, cancelledAt
}

// Cancel sends SIGTERM to the whole group: the child's trap runs, and the
// shell's trap, which waits for the child, gets to exit well within grace.
// Were only the shell signalled, its `wait` would block until SIGKILL.
func TestCancelHonoursTermTraps(t *testing.T) {
	e := newExec(t, Options{GracePeriod: 10 * time.Second})
	spec := newSpec(t, `trap 'wait; echo bye; exit 3' TERM
( trap 'echo child-bye; exit 0' TERM; echo ready; while :; do sleep 0.01; done ) &
wait`)
	res, s, _ := cancelWhenSeen(t, e, spec)
	checkResult(t, res, 3, true, false)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"ready", "child-bye", "bye"}) {
		t.Errorf("stdout = %q, want both traps' output", got)
	}
	assertNoProcs(t, spec.RunID)
}

func TestCancelIgnoringTermIsKilledAfterGrace(t *testing.T) {
	const grace = 300 * time.Millisecond
	e := newExec(t, Options{GracePeriod: grace})
	spec := newSpec(t, `trap '' TERM; sleep 100 & echo ready; sleep 100`)
	res, _, cancelledAt := cancelWhenSeen(t, e, spec)
	checkResult(t, res, -1, true, false)
	if waited := time.Since(cancelledAt); waited < grace {
		t.Errorf("Run returned %v after the cancel, before the %v grace period: SIGKILL came early", waited, grace)
	}
	assertNoProcs(t, spec.RunID)
}

func TestTimeout(t *testing.T) {
	e := newExec(t, Options{GracePeriod: time.Minute})
	spec := newSpec(t, `echo ready; sleep 100`)
	spec.Timeout = 50 * time.Millisecond
	res, s := run(t, e, spec)
	checkResult(t, res, -1, false, true)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"ready"}) {
		t.Errorf("stdout = %q", got)
	}
	assertNoProcs(t, spec.RunID)
}

// Background children die with the step, even those that ignore SIGTERM or
// hold the output pipes, and Run does not wait for them to finish.
func TestNoProcessLeftBehind(t *testing.T) {
	e := newExec(t, Options{GracePeriod: 200 * time.Millisecond})
	for _, tc := range []struct {
		name, cmd string
		code      int
	}{
		{"background sleep holding stdout", `sleep 100 & echo started`, 0},
		{"ignores SIGTERM", `(trap '' TERM HUP; sleep 100) & echo started`, 0},
		{"nohup and disown", `nohup sleep 100 >/dev/null 2>&1 & disown; echo started`, 0},
		{"orphaned grandchild", `(sleep 100 &); echo started`, 0},
		{"failing step", `sleep 100 & echo started; exit 5`, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := newSpec(t, tc.cmd)
			res, s := run(t, e, spec)
			checkResult(t, res, tc.code, false, false)
			if got := s.texts(logline.Stderr); len(got) > 0 {
				t.Errorf("stderr = %q; the pipes should close when the group dies", got)
			}
			assertNoProcs(t, spec.RunID)
		})
	}
}

// awaitSetsid waits until the background job $! leads its own session, so
// the step does not end (and kill its group) before the job escaped.
const awaitSetsid = `until [ "$(awk '{print $6}' /proc/$!/stat)" = "$!" ]; do :; done`

// A process that leaves the step's process group must not hang Run by
// holding the output pipes.
func TestEscapeeHoldingPipesDoesNotHangRun(t *testing.T) {
	e := newExec(t, Options{})
	spec := newSpec(t, `setsid sleep 100 & `+awaitSetsid)
	res, s := run(t, e, spec)
	checkResult(t, res, 0, false, false)
	for _, pid := range stepProcs(t, spec.RunID) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if got := s.texts(logline.Stderr); !slices.Equal(got, []string{cutNote}) {
		t.Errorf("stderr = %q, want the note that reading was cut off", got)
	}
}

// Known limitation, kept visible: a process that leaves the group with setsid
// survives the step. Closing it needs cgroups (or a sweep of /proc by
// RUNBOOK_RUN_ID, which a later issue may add for crash recovery).
func TestSetsidEscapeeSurvives(t *testing.T) {
	e := newExec(t, Options{})
	spec := newSpec(t, `setsid sleep 100 >/dev/null 2>&1 & `+awaitSetsid)
	res, _ := run(t, e, spec)
	checkResult(t, res, 0, false, false)
	pids := stepProcs(t, spec.RunID)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(pids) > 0 {
		t.Skipf("known limitation: setsid escapee %v outlived the step (killed by the test)", pids)
	}
}

func TestOnStartGetsProcessGroup(t *testing.T) {
	var hookPgid, linesAtHook int
	var s *memSink
	e := newExec(t, Options{OnStart: func(spec executor.Spec, pgid int) {
		hookPgid = pgid
		linesAtHook = len(s.lines)
	}})
	s = newSink("")
	// awk prints its own process group: the step's children share it.
	res := e.Run(context.Background(), newSpec(t, `echo $$; awk '{print $5}' /proc/self/stat`), s)
	checkResult(t, res, 0, false, false)
	want := strconv.Itoa(hookPgid)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{want, want}) {
		t.Errorf("shell pid and child pgid = %q, OnStart got pgid %d", got, hookPgid)
	}
	if linesAtHook != 0 {
		t.Errorf("OnStart ran after %d lines were delivered, want before any", linesAtHook)
	}
}

func TestParallelRuns(t *testing.T) {
	e := newExec(t, Options{GracePeriod: time.Second})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			spec := newSpec(t, fmt.Sprintf(`seq %d; seq 500 >&2; sleep 100 & exit %d`, 1000+i, i%3))
			s := newSink("")
			res := e.Run(context.Background(), spec, s)
			if res.ExitCode != i%3 || res.Err != nil {
				t.Errorf("run %d: %+v", i, res)
			}
			if n, m := len(s.texts(logline.Stdout)), len(s.texts(logline.Stderr)); n != 1000+i || m != 500 {
				t.Errorf("run %d: %d stdout and %d stderr lines, want %d and 500", i, n, m, 1000+i)
			}
			for j, l := range s.lines {
				if l.N != int64(j+1) {
					t.Errorf("run %d: line %d numbered %d", i, j+1, l.N)
					break
				}
			}
			assertNoProcs(t, spec.RunID)
		})
	}
	wg.Wait()
}

// TestMain lets the test binary act as a runner that a test can kill -9.
func TestMain(m *testing.M) {
	if cmd := os.Getenv("LOCALTEST_RUNNER_COMMAND"); cmd != "" {
		runAsRunner(cmd)
		return
	}
	os.Exit(m.Run())
}

// runAsRunner runs one step and prints its output, until it is killed.
func runAsRunner(command string) {
	e, err := New(Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	spec := executor.Spec{RunID: os.Getenv("LOCALTEST_RUN_ID"), Step: "crash", Attempt: 1, Command: command, Workspace: os.TempDir()}
	e.Run(context.Background(), spec, printSink{})
	os.Exit(1)
}

type printSink struct{}

func (printSink) WriteLine(l logline.Line) error {
	_, err := fmt.Printf("%s\n", l.Text)
	return err
}

// When the runner dies by SIGKILL, Pdeathsig takes the step's shell with it.
func TestShellDiesWithRunner(t *testing.T) {
	runID := fmt.Sprintf("localtest-%d-crash", os.Getpid())
	runner := exec.Command(os.Args[0], "-test.run=^$")
	runner.Env = append(os.Environ(), "LOCALTEST_RUNNER_COMMAND=echo ready; exec sleep 100", "LOCALTEST_RUN_ID="+runID)
	out, err := runner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("runner printed %q (%v), want ready", line, err)
	}
	if n := len(stepProcs(t, runID)); n != 1 {
		t.Fatalf("%d processes of the step before the crash, want 1 (the shell)", n)
	}
	_ = runner.Process.Kill()
	_ = runner.Wait()
	// The kernel delivers Pdeathsig as the runner exits; allow it a moment.
	give := time.Now().Add(10 * time.Second)
	for len(stepProcs(t, runID)) > 0 {
		if time.Now().After(give) {
			assertNoProcs(t, runID)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package local

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
)

// line is a copy of a delivered logline.Line.
type line struct {
	N      int64
	Stream logline.Stream
	Text   string
}

// memSink keeps copies of every line, and closes seen when a line equal to
// watch arrives, so tests can wait for a step to reach a point.
type memSink struct {
	mu    sync.Mutex
	lines []line
	watch string
	seen  chan struct{}
}

func newSink(watch string) *memSink { return &memSink{watch: watch, seen: make(chan struct{})} }

func (s *memSink) WriteLine(l logline.Line) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line{l.N, l.Stream, string(l.Text)})
	if s.watch != "" && string(l.Text) == s.watch {
		close(s.seen)
		s.watch = ""
	}
	return nil
}

// texts returns the lines of one stream, in order.
func (s *memSink) texts(st logline.Stream) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		if l.Stream == st {
			out = append(out, l.Text)
		}
	}
	return out
}

// newExec makes an executor for a test. LOCALTEST_SANDBOX=1 runs the tests
// that do not ask for a sandbox in one anyway, and LOCALTEST_PIDNS=1 in a
// PID namespace (as root): they must hold there too.
func newExec(t testing.TB, opts Options) *Executor {
	t.Helper()
	if opts.Sandbox == nil && os.Getenv("LOCALTEST_SANDBOX") != "" {
		opts.Sandbox = &Sandbox{}
	}
	if os.Getenv("LOCALTEST_PIDNS") != "" {
		opts.PIDNamespace = true
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// plainExec is an executor that isolates attempts by process group only,
// as it does for a runner that is neither root nor sandboxed.
func plainExec(t testing.TB, opts Options) *Executor {
	e := newExec(t, opts)
	e.unshare, e.plan = "", nil
	return e
}

var runSeq atomic.Int64

// newSpec gives each run a unique RUNBOOK_RUN_ID so its processes can be
// found in /proc.
func newSpec(t testing.TB, command string) executor.Spec {
	return executor.Spec{
		RunID:     fmt.Sprintf("localtest-%d-%d", os.Getpid(), runSeq.Add(1)),
		Step:      t.Name(),
		Attempt:   1,
		Command:   command,
		Workspace: t.TempDir(),
	}
}

func run(t testing.TB, e *Executor, spec executor.Spec) (executor.Result, *memSink) {
	t.Helper()
	s := newSink("")
	return e.Run(context.Background(), spec, s), s
}

// stepProcs returns the pids of live processes whose environment holds
// RUNBOOK_RUN_ID=runID. Unlike a process group this also finds processes
// that left the group with setsid. Zombies have no environ and are skipped.
func stepProcs(t testing.TB, runID string) []int {
	t.Helper()
	want := []byte("RUNBOOK_RUN_ID=" + runID + "\x00")
	paths, err := filepath.Glob("/proc/[0-9]*/environ")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range paths {
		env, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...)) {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			pids = append(pids, pid)
		}
	}
	return pids
}

// assertNoProcs fails if anything of the run is still alive, and kills it so
// one failure does not leak into other tests.
func assertNoProcs(t testing.TB, runID string) {
	t.Helper()
	if pids := stepProcs(t, runID); len(pids) > 0 {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("processes %v of run %s outlived Run", pids, runID)
	}
}

func checkResult(t testing.TB, got executor.Result, code int, cancelled, timedOut bool) {
	t.Helper()
	if got.Err != nil {
		t.Fatalf("Run: unexpected error: %v", got.Err)
	}
	if got.ExitCode != code || got.Cancelled != cancelled || got.TimedOut != timedOut {
		t.Fatalf("Run = {ExitCode:%d Cancelled:%v TimedOut:%v}, want {ExitCode:%d Cancelled:%v TimedOut:%v}",
			got.ExitCode, got.Cancelled, got.TimedOut, code, cancelled, timedOut)
	}
}

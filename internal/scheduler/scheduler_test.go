package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/store"
)

// B cannot end until C has run, so the run finishes only if C starts while
// B still runs: a true DAG, not levels.
const diamondYAML = `name: diamond
steps:
  - name: A
    command: "true"
  - name: B
    command: 'while [ ! -f c-ran ]; do sleep 0.01; done'
  - name: C
    depends_on: [A]
    command: touch c-ran
  - name: D
    depends_on: [B, C]
    command: "true"
`

func TestDiamond(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		r := newRig(t, rigOpts{open: open})
		run := r.submit(diamondYAML, nil)
		if run.Status != engine.RunRunning {
			t.Fatalf("Submit returned status %s, want running", run.Status)
		}
		run = r.waitEnd(run.ID)
		if run.Status != engine.RunSucceeded {
			t.Fatalf("run %s (%s), steps %+v", run.Status, run.Reason, run.Steps)
		}
		evs := r.events(run.ID)
		cStart, bExit := find(evs, engine.StepStarted, "C", 1), find(evs, engine.StepExited, "B", 1)
		dStart := find(evs, engine.StepStarted, "D", 1)
		if cStart < 0 || bExit < 0 || cStart > bExit {
			t.Errorf("C started at event %d, B exited at %d: C must start while B runs", cStart, bExit)
		}
		if dStart < bExit || dStart < find(evs, engine.StepExited, "C", 1) {
			t.Errorf("D started at event %d before its dependencies ended", dStart)
		}
		assertNoProcs(t, r.dir)
	})
}

// collecting is a local executor that also keeps per-run objects, as the
// Kubernetes executor does, and records when it is told to collect them.
type collecting struct {
	deleted chan string
}

func (c collecting) DeleteRun(_ context.Context, runID string) error {
	c.deleted <- runID
	return nil
}

func TestRunEndCollectsExecutorObjects(t *testing.T) {
	deleted := make(chan string, 4)
	r := newRig(t, rigOpts{collector: collecting{deleted}})
	run := r.waitEnd(r.submit(diamondYAML, nil).ID)
	select {
	case id := <-deleted:
		if id != strconv.FormatInt(run.ID, 10) {
			t.Fatalf("DeleteRun(%s), want run %d", id, run.ID)
		}
	case <-time.After(waitLimit):
		t.Fatalf("run %d ended (%s) but the executor was never told to collect it", run.ID, run.Status)
	}
	select {
	case id := <-deleted:
		t.Fatalf("DeleteRun called again (%s): once per run is enough", id)
	default:
	}
}

func TestFailFastCancelsRunningStep(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		r := newRig(t, rigOpts{open: open})
		run := r.submit(`name: ff
steps:
  - name: slow
    command: sleep 300
  - name: bad
    command: 'while [ ! -f slow-started ]; do sleep 0.01; done; exit 3'
  - name: prep
    command: touch slow-started
`, nil)
		run = r.waitEnd(run.ID)
		if run.Status != engine.RunFailed {
			t.Fatalf("run %s, want failed", run.Status)
		}
		if s := step(run, "slow"); s.Status != engine.StepCancelled {
			t.Errorf("slow is %s (%s), want cancelled by fail-fast", s.Status, s.Reason)
		}
		if s := step(run, "bad"); s.Status != engine.StepFailed || s.ExitCode == nil || *s.ExitCode != 3 {
			t.Errorf("bad is %+v, want failed with exit code 3", s.StepState)
		}
		assertNoProcs(t, r.dir)
	})
}

func TestCancelRunningRun(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		r := newRig(t, rigOpts{open: open})
		run := r.submit("name: c\nsteps:\n  - name: s\n    command: 'sleep 300 & sleep 300'\n", nil)
		waitProcs(t, r.dir, "the step's two sleeps", func(n int) bool { return n >= 2 })

		if err := r.s.Cancel(context.Background(), r.tenant+1000, run.ID, "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Cancel by another tenant: %v, want ErrNotFound", err)
		}
		if err := r.s.Cancel(context.Background(), r.tenant, run.ID, "stopped by alice"); err != nil {
			t.Fatal(err)
		}
		run = r.waitEnd(run.ID)
		if run.Status != engine.RunCancelled || run.Reason != "stopped by alice" {
			t.Fatalf("run %s (%q), want cancelled (stopped by alice)", run.Status, run.Reason)
		}
		if s := step(run, "s"); s.Status != engine.StepCancelled {
			t.Errorf("step is %s", s.Status)
		}
		assertNoProcs(t, r.dir)
		if err := r.s.Cancel(context.Background(), r.tenant, run.ID, "again"); err != nil {
			t.Errorf("cancelling an ended run: %v, want no-op", err)
		}
	})
}

func TestRetryWithBackoff(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		r := newRig(t, rigOpts{open: open})
		run := r.submit(`name: r
steps:
  - name: flaky
    retries: 2
    command: '[ "$RUNBOOK_ATTEMPT" = 2 ]'
`, nil)
		run = r.waitEnd(run.ID)
		if s := step(run, "flaky"); run.Status != engine.RunSucceeded || s.Attempt != 2 {
			t.Fatalf("run %s, step %+v: want success on attempt 2", run.Status, s.StepState)
		}
		evs := r.events(run.ID)
		exit1, due := find(evs, engine.StepExited, "flaky", 1), find(evs, engine.RetryDue, "flaky", 2)
		if exit1 < 0 || due < 0 {
			t.Fatalf("events lack the failed attempt or the retry: %+v", evs)
		}
		if gap := evs[due].Time.Sub(evs[exit1].Time); gap < engine.Backoff(2) {
			t.Errorf("retry came %v after the failure, before its backoff of %v", gap, engine.Backoff(2))
		}
	})
}

func TestTimeout(t *testing.T) {
	r := newRig(t, rigOpts{})
	run := r.submit("name: t\nsteps:\n  - name: s\n    timeout: 1s\n    command: sleep 300\n", nil)
	run = r.waitEnd(run.ID)
	if s := step(run, "s"); run.Status != engine.RunFailed || s.Status != engine.StepFailed {
		t.Fatalf("run %s, step %+v", run.Status, s.StepState)
	}
	if find(r.events(run.ID), engine.StepTimedOut, "s", 1) < 0 {
		t.Error("no step_timed_out event")
	}
	assertNoProcs(t, r.dir)
}

func TestLogsAndNotes(t *testing.T) {
	r := newRig(t, rigOpts{})
	// The run's first ID is known: subscribe before anything happens.
	sub := r.bus.Subscribe(RunTopic(1))
	defer sub.Close()
	run := r.submit(`name: l
steps:
  - name: talk
    command: 'echo "$GREETING"; echo oops >&2'
    env: {GREETING: hello}
  - name: quiet
    command: "true"
`, nil)
	if run.ID != 1 {
		t.Fatalf("first run has id %d", run.ID)
	}
	select {
	case n := <-sub.C:
		if n.Topic != RunTopic(1) {
			t.Errorf("note on topic %q", n.Topic)
		}
	default:
		t.Fatal("Submit published no note")
	}
	r.waitEnd(run.ID)
	lines, err := r.logs.Read(logstore.Key{Run: "1", Step: "talk", Attempt: 1}, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Two pipes: their relative order is not kept, each line's stream is.
	var got []string
	for _, l := range lines {
		got = append(got, fmt.Sprintf("%v:%s", l.Stream, l.Text))
	}
	slices.Sort(got)
	want := []string{fmt.Sprintf("%v:hello", logline.Stdout), fmt.Sprintf("%v:oops", logline.Stderr)}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("log lines %q, want %q", got, want)
	}
	if _, err := r.logs.Read(logstore.Key{Run: "1", Step: "quiet", Attempt: 1}, 1, 10); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("silent step's log: %v, want ErrNotFound (no file)", err)
	}
}

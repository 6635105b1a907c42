package storetest

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

const labelledYAML = `steps:
  - name: arm
    command: "true"
    runs_on: {arch: arm64}
  - name: any
    command: "true"
`

func claimFor(t testing.TB, s store.Store, c store.Claim) []store.Command {
	t.Helper()
	if c.Limit == 0 {
		c.Limit = 10
	}
	if c.Lease == 0 {
		c.Lease = leaseTime
	}
	cmds, _, err := s.ClaimFor(context.Background(), c)
	if err != nil {
		t.Fatalf("ClaimFor(%+v): %v", c, err)
	}
	return cmds
}

// claimNext is claimFor that also returns ClaimFor's next.
func claimNext(t testing.TB, s store.Store, c store.Claim) ([]store.Command, time.Time) {
	t.Helper()
	if c.Lease == 0 {
		c.Lease = leaseTime
	}
	cmds, next, err := s.ClaimFor(context.Background(), c)
	if err != nil {
		t.Fatalf("ClaimFor(%+v): %v", c, err)
	}
	return cmds, next
}

func steps(cmds []store.Command) map[string]store.Command {
	m := map[string]store.Command{}
	for _, c := range cmds {
		m[c.Step] = c
	}
	return m
}

// A start_step whose step has runs_on goes only to a claimer with all of
// its labels; one without goes to anyone.
func testClaimLabels(t *testing.T, open Opener) {
	s := open(t)
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, labelledYAML, workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})

	got := steps(claimFor(t, s, store.Claim{Owner: "amd", Labels: map[string]string{"arch": "amd64", "executor": "local"}}))
	if _, ok := got["arm"]; ok || len(got) != 1 {
		t.Fatalf("a worker with arch=amd64 claimed %v, want only the unlabelled step", slicesKeys(got))
	}
	if c := got["any"]; c.Labels != nil {
		t.Errorf("an unlabelled step's command has labels %v", c.Labels)
	}
	if c := claimFor(t, s, store.Claim{Owner: "bare"}); len(c) != 0 {
		t.Fatalf("a worker without labels claimed %+v", c)
	}
	got = steps(claimFor(t, s, store.Claim{Owner: "arm", Labels: map[string]string{"arch": "arm64", "executor": "local"}}))
	c, ok := got["arm"]
	if !ok || len(got) != 1 {
		t.Fatalf("a worker with arch=arm64 claimed %v, want the arm step", slicesKeys(got))
	}
	if !maps.Equal(c.Labels, map[string]string{"arch": "arm64"}) {
		t.Errorf("command labels = %v, want arch=arm64", c.Labels)
	}
}

// MaxStarts caps a claim's start_steps, and a negative cap takes none while
// other commands still come.
func testClaimMaxStarts(t *testing.T, open Opener) {
	s := open(t)
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, "steps:\n  - {name: a, command: \"true\"}\n  - {name: b, command: \"true\"}\n  - {name: c, command: \"true\"}\n", workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	if got := claimFor(t, s, store.Claim{Owner: "busy", MaxStarts: -1}); len(got) != 0 {
		t.Fatalf("a claimer without free slots claimed %+v", got)
	}
	if got := steps(claimFor(t, s, store.Claim{Owner: "w1", MaxStarts: 2})); len(got) != 2 {
		t.Fatalf("MaxStarts 2 claimed %v", slicesKeys(got))
	}
	if got := steps(claimFor(t, s, store.Claim{Owner: "w2"})); len(got) != 1 {
		t.Fatalf("an uncapped claim after it got %v, want the third step", slicesKeys(got))
	}
	// A cancel still reaches a claimer without free slots.
	apply(t, s, r.ID, engine.Event{Kind: engine.CancelRequested, Reason: "test"})
	var cancels int
	for _, c := range claimFor(t, s, store.Claim{Owner: "w1", MaxStarts: -1}) {
		if c.Kind == store.CommandStartStep {
			t.Fatalf("claimed a start_step with MaxStarts -1: %+v", c)
		}
		cancels++
	}
	if cancels == 0 {
		t.Fatal("no cancel_step reached w1, which holds two of the steps")
	}
}

func slicesKeys(m map[string]store.Command) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// A start_step handed out again after its lease expired, or after it was
// released, says who held it; the old holder has lost it.
func testLeaseTakeover(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, "steps:\n  - {name: a, command: \"true\"}\n  - {name: b, command: \"true\"}\n", workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})

	first := steps(claim(t, s, "w1", 10))
	if first["a"].PrevOwner != "" || first["b"].PrevOwner != "" {
		t.Fatalf("first claims have a previous owner: %+v", first)
	}
	// w1 gives b back (a graceful shutdown before b started): w2 takes it
	// at once, without waiting for the lease.
	if err := s.ReleaseCommand(ctx, first["b"].ID, "w1"); err != nil {
		t.Fatalf("ReleaseCommand: %v", err)
	}
	if err := s.ReleaseCommand(ctx, first["b"].ID, "w1"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("releasing twice: err = %v, want ErrConflict", err)
	}
	second := steps(claim(t, s, "w2", 10))
	if b, ok := second["b"]; !ok || len(second) != 1 || b.PrevOwner != "w1" || b.Claims != 2 {
		t.Fatalf("after the release w2 claimed %+v, want b with PrevOwner w1, claim 2", second)
	}
	// w1 dies holding a: once the lease expires w2 takes it and learns
	// it was w1's.
	clk.Advance(leaseTime + 1)
	third := steps(claim(t, s, "w2", 10))
	if a, ok := third["a"]; !ok || a.PrevOwner != "w1" {
		t.Fatalf("after w1's lease expired w2 claimed %+v, want a with PrevOwner w1", third)
	}
	if err := s.ExtendLease(ctx, first["a"].ID, "w1", leaseTime); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the dead owner's heartbeat: err = %v, want ErrConflict", err)
	}
}

// A cancel_step goes to the owner that holds its attempt's start_step
// (the process running it), or to anyone once that lease expired. A
// claimer that runs no steps takes neither.
func testCancelRouting(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, "steps:\n  - {name: a, command: \"true\"}\n", workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	if c := claimFor(t, s, store.Claim{Owner: "api", NoSteps: true}); len(c) != 0 {
		t.Fatalf("a claimer with NoSteps took %+v", c)
	}
	start := claim(t, s, "runner", 10)
	if len(start) != 1 {
		t.Fatalf("claimed %+v, want the start_step", start)
	}
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "a", Attempt: 1})
	_, cmds := apply(t, s, r.ID, engine.Event{Kind: engine.CancelRequested, Reason: "stop"})
	if len(cmds) != 1 || cmds[0].Kind != engine.CancelStep {
		t.Fatalf("cancel decided %+v, want one cancel_step", cmds)
	}
	if c := claimFor(t, s, store.Claim{Owner: "api", NoSteps: true}); len(c) != 0 {
		t.Fatalf("a claimer with NoSteps took %+v", c)
	}
	if c := claim(t, s, "other", 10); len(c) != 0 {
		t.Fatalf("another worker took %+v while the runner holds the step", c)
	}
	got := claim(t, s, "runner", 10)
	if len(got) != 1 || got[0].Kind != store.CommandCancelStep {
		t.Fatalf("the runner claimed %+v, want its cancel_step", got)
	}
	// Had the runner died, anyone takes the cancel once its lease is gone.
	if err := s.ReleaseCommand(context.Background(), got[0].ID, "runner"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(leaseTime + 1)
	got = claim(t, s, "other", 10)
	kinds := map[store.CommandKind]bool{}
	for _, c := range got {
		kinds[c.Kind] = true
	}
	if !kinds[store.CommandCancelStep] {
		t.Fatalf("after the runner's lease expired, other claimed %+v, want the cancel_step among them", got)
	}
}

// Workers register and heartbeat; a queued step no live worker can take
// gets a waiting reason that GetRun shows, which clears when a worker with
// its labels appears and when the step starts.
func testWorkersAndWaiting(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	if err := s.RegisterWorker(ctx, "w1", map[string]string{"executor": "local"}); err != nil {
		t.Fatal(err)
	}
	r := createRun(t, s, tn.ID, labelledYAML, workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	reasons := func() map[string]string {
		m := map[string]string{}
		for _, st := range getRun(t, s, tn.ID, r.ID).Steps {
			m[st.Name] = st.WaitingReason
		}
		return m
	}
	mark := func(want int) {
		t.Helper()
		n, err := s.MarkWaiting(ctx, leaseTime)
		if err != nil || n != want {
			t.Fatalf("MarkWaiting = %d, %v; want %d changed", n, err, want)
		}
	}
	mark(1)
	if got := reasons(); got["arm"] != "no worker with labels arch=arm64" || got["any"] != "" {
		t.Fatalf("waiting reasons = %q", got)
	}
	mark(0) // nothing changed: nothing written

	clk.Advance(leaseTime / 2)
	if err := s.RegisterWorker(ctx, "w2", map[string]string{"arch": "arm64"}); err != nil {
		t.Fatal(err)
	}
	ws, err := s.ListWorkers(ctx, leaseTime)
	if err != nil || len(ws) != 2 || ws[1].ID != "w2" || ws[1].Labels["arch"] != "arm64" || !ws[1].HeartbeatAt.Equal(clk.Now()) {
		t.Fatalf("ListWorkers = %+v, %v; want w1 and w2 (heartbeat now)", ws, err)
	}
	mark(1)
	if got := reasons(); got["arm"] != "" {
		t.Fatalf("with an arm64 worker, reason = %q, want none", got["arm"])
	}
	// w1 stops heartbeating, w2 goes on: after a lease only w2 is live,
	// and the unlabelled step has it.
	clk.Advance(leaseTime)
	if err := s.RegisterWorker(ctx, "w2", map[string]string{"arch": "arm64"}); err != nil {
		t.Fatal(err)
	}
	if ws, _ := s.ListWorkers(ctx, leaseTime); len(ws) != 1 || ws[0].ID != "w2" || !ws[0].StartedAt.Before(ws[0].HeartbeatAt) {
		t.Fatalf("live workers = %+v, want w2 alone, started before its last heartbeat", ws)
	}
	mark(0)
	if err := s.RemoveWorker(ctx, "w2"); err != nil {
		t.Fatal(err)
	}
	mark(2)
	if got := reasons(); got["arm"] != "no worker with labels arch=arm64" || got["any"] != "no live worker" {
		t.Fatalf("with no live worker, reasons = %q", got)
	}
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "any", Attempt: 1})
	if got := reasons(); got["any"] != "" {
		t.Fatalf("a started step still says %q", got["any"])
	}
}

// An attempt's outcome is applied once: a second report of the same
// attempt (a worker that lost its lease, a retried write) and a lost
// report after it ended change nothing and log nothing.
func testAttemptOutcomeOnce(t *testing.T, open Opener) {
	s := open(t)
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, "steps:\n  - {name: a, command: \"true\", retries: 2}\n  - {name: b, depends_on: [a], command: \"true\"}\n", workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "a", Attempt: 1})
	_, cmds := apply(t, s, r.ID, engine.Event{Kind: engine.StepExited, Step: "a", Attempt: 1, ExitCode: 0})
	if len(cmds) != 1 || cmds[0].Step != "b" {
		t.Fatalf("a's success decided %+v, want b started", cmds)
	}
	n := len(events(t, s, tn.ID, r.ID))
	for _, e := range []engine.Event{
		{Kind: engine.StepExited, Step: "a", Attempt: 1, ExitCode: 0},
		{Kind: engine.StepExited, Step: "a", Attempt: 1, ExitCode: 1},
		{Kind: engine.ExecutorLost, Step: "a", Attempt: 1, Reason: "lease expired"},
		{Kind: engine.StepStarted, Step: "a", Attempt: 1},
	} {
		if _, cmds := apply(t, s, r.ID, e); len(cmds) != 0 {
			t.Fatalf("%+v after a succeeded decided %+v", e, cmds)
		}
	}
	if got := len(events(t, s, tn.ID, r.ID)); got != n {
		t.Fatalf("the event log grew from %d to %d: a finished attempt was applied again", n, got)
	}
	st := getRun(t, s, tn.ID, r.ID).Steps[0]
	if st.Status != engine.StepSucceeded || st.Attempt != 1 {
		t.Fatalf("step a = %+v, want succeeded at attempt 1", st)
	}
}

// ClaimFor says when the next command the claimer could take becomes
// claimable: another owner's lease running out (renewals move it), a
// retry's backoff ending. The claimer's own commands, steps whose labels
// it lacks and, for a claimer that runs no steps, step commands do not
// count; after a full claim it says nothing (claim again at once).
func testClaimNext(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, `steps:
  - {name: a, command: "true"}
  - {name: b, command: "true", retries: 1}
  - {name: arm, command: "true", runs_on: {arch: arm64}}
`, workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	arm := map[string]string{"arch": "arm64"}
	next := func(who string, c store.Claim, claimed int, want time.Time) map[string]store.Command {
		t.Helper()
		cmds, next := claimNext(t, s, c)
		if len(cmds) != claimed || !next.Equal(want) {
			t.Fatalf("%s: claimed %+v, next %v; want %d commands, next %v", who, cmds, next, claimed, want)
		}
		return steps(cmds)
	}

	t0 := clk.Now()
	held := next("a full claim", store.Claim{Owner: "w1", Labels: arm, Limit: 1}, 1, time.Time{})
	maps.Copy(held, next("w1 holding everything", store.Claim{Owner: "w1", Labels: arm, Limit: 10}, 2, time.Time{}))
	next("w2", store.Claim{Owner: "w2", Limit: 10}, 0, t0.Add(leaseTime))
	next("a claimer that runs no steps", store.Claim{Owner: "api", Limit: 10, NoSteps: true}, 0, time.Time{})

	// w1 renews a and b but not arm: w2, without arm64, waits for the
	// renewed leases; w3, with it, for arm's, and takes it then.
	clk.Advance(leaseTime / 2)
	renewed := clk.Now().Add(leaseTime)
	for _, name := range []string{"a", "b"} {
		if err := s.ExtendLease(ctx, held[name].ID, "w1", leaseTime); err != nil {
			t.Fatal(err)
		}
	}
	next("w2 after the renewals", store.Claim{Owner: "w2", Limit: 10}, 0, renewed)
	next("w3 before arm's lease ends", store.Claim{Owner: "w3", Labels: arm, Limit: 10}, 0, t0.Add(leaseTime))
	clk.Advance(leaseTime / 2)
	if got := next("w3 at arm's lease end", store.Claim{Owner: "w3", Labels: arm, Limit: 10}, 1, renewed); got["arm"].PrevOwner != "w1" {
		t.Fatalf("w3 took %+v, want arm from w1", got)
	}

	// b fails and waits for its retry; w1 finishes a and b's attempt: the
	// retry's backoff is all w2 waits for.
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "b", Attempt: 1})
	exitAt := clk.Now()
	apply(t, s, r.ID, engine.Event{Kind: engine.StepExited, Step: "b", Attempt: 1, ExitCode: 1, Time: exitAt})
	complete(t, s, held["a"])
	complete(t, s, held["b"])
	due := exitAt.Add(engine.Backoff(2))
	next("w2 waiting for the retry", store.Claim{Owner: "w2", Limit: 10}, 0, due)
	clk.Advance(engine.Backoff(2))
	if got := next("w2 at the retry", store.Claim{Owner: "w2", Limit: 10}, 1, time.Time{}); got["b"].Kind != store.CommandRetryDue {
		t.Fatalf("w2 took %+v, want b's retry_due", got)
	}
}

// A step cancelled while queued ends at once (the engine no longer waits
// for it), and its start_step is withdrawn in the same transaction unless
// a live lease holds it: a step no worker can take leaves nothing behind,
// while a claimer holding one hears of it through cancel_step.
func testQueuedCancelWithdrawn(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, `steps:
  - {name: arm, command: "true", runs_on: {arch: arm64}}
  - {name: held, command: "true", runs_on: {arch: riscv}}
  - {name: bad, command: "false"}
`, workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	any := claimFor(t, s, store.Claim{Owner: "w-any", Lease: time.Minute})
	if len(any) != 1 || any[0].Step != "bad" {
		t.Fatalf("a worker without labels claimed %+v, want bad", any)
	}
	// A claimer holds held's start_step (a live lease) but has not started it.
	if got := claimFor(t, s, store.Claim{Owner: "w-riscv", Lease: time.Minute, Labels: map[string]string{"arch": "riscv"}}); len(got) != 1 || got[0].Step != "held" {
		t.Fatalf("riscv claim = %+v, want held", got)
	}
	apply(t, s, r.ID, engine.Event{Kind: engine.StepStarted, Step: "bad", Attempt: 1})
	st, cmds := apply(t, s, r.ID, engine.Event{Kind: engine.StepExited, Step: "bad", Attempt: 1, ExitCode: 1})
	if err := s.CompleteCommand(ctx, any[0].ID, "w-any"); err != nil {
		t.Fatal(err)
	}
	if st.Status != engine.RunFailed {
		t.Fatalf("run %s after bad failed, want failed at once; commands %+v", st.Status, cmds)
	}
	// The arm64 step's start_step is gone: an arm64 worker that comes
	// later finds only the cancel_step and the run's end.
	kinds := map[string]int{}
	for _, c := range claimFor(t, s, store.Claim{Owner: "w-arm", Lease: time.Minute, Labels: map[string]string{"arch": "arm64"}}) {
		kinds[string(c.Kind)+" "+c.Step]++
		if err := s.CompleteCommand(ctx, c.ID, "w-arm"); err != nil {
			t.Fatal(err)
		}
	}
	if kinds["start_step arm"] != 0 || kinds["cancel_step arm"] != 1 || kinds["finish_run "] != 1 {
		t.Fatalf("an arm64 worker claimed %v: want arm's cancel_step and finish_run, not its start_step", kinds)
	}
	// held's start_step stays with its holder, who completes it.
	if err := s.CompleteCommand(ctx, mustHeld(t, s, clk), "w-riscv"); err != nil {
		t.Fatalf("the holder could not complete held's start_step: %v", err)
	}
	if stats, err := s.Stats(ctx); err != nil || stats.CommandsDue != 1 {
		t.Fatalf("Stats = %+v, %v: want only held's cancel_step due (routed to its holder)", stats, err)
	}
}

// mustHeld returns the id of the start_step w-riscv holds, found by
// claiming again after its lease ran out.
func mustHeld(t *testing.T, s store.Store, clk *Clock) int64 {
	t.Helper()
	clk.Advance(2 * time.Minute)
	got := claimFor(t, s, store.Claim{Owner: "w-riscv", Lease: time.Minute, Labels: map[string]string{"arch": "riscv"}})
	for _, c := range got {
		if c.Kind == store.CommandStartStep && c.Step == "held" {
			return c.ID
		}
	}
	t.Fatalf("held's start_step was withdrawn although a live lease held it; the claim gave %+v", got)
	return 0
}

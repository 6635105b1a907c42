package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

const oneStepYAML = "name: one\nsteps:\n  - name: one\n    command: \"true\"\n"

// onPlan gives a fresh tenant a plan of its own.
func onPlan(t testing.TB, s store.Store, name string, minutes int64, maxConcurrent int) store.Tenant {
	t.Helper()
	ctx := context.Background()
	tn := tenant(t, s, name)
	if err := s.PutPlan(ctx, quota.Plan{Name: name, Minutes: minutes, MaxConcurrent: maxConcurrent}); err != nil {
		t.Fatalf("PutPlan: %v", err)
	}
	if err := s.SetPlan(ctx, tn.ID, name); err != nil {
		t.Fatalf("SetPlan: %v", err)
	}
	return tn
}

func admit(t testing.TB, s store.Store, tenantID int64) store.Run {
	t.Helper()
	r, err := s.CreateAndAdmit(context.Background(), store.NewRun{
		TenantID: tenantID, File: ".runbook.yml", Source: []byte(oneStepYAML), Trigger: "api",
	})
	if err != nil {
		t.Fatalf("CreateAndAdmit: %v", err)
	}
	return r
}

// finishOne runs the single step of a oneStepYAML run for d.
func finishOne(t testing.TB, s store.Store, clock *Clock, runID int64, d time.Duration) {
	t.Helper()
	apply(t, s, runID, engine.Event{Kind: engine.StepStarted, Step: "one", Attempt: 1})
	if clock != nil {
		clock.Advance(d)
	}
	apply(t, s, runID, engine.Event{Kind: engine.StepExited, Step: "one", Attempt: 1})
}

func testQuotaFIFO(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	tn := onPlan(t, s, "two-at-once", 1000, 2)
	var runs []store.Run
	for range 5 {
		runs = append(runs, admit(t, s, tn.ID))
	}
	for i, r := range runs {
		want := quota.Admitted
		if i >= 2 {
			want = quota.Pending
		}
		if r.Admission != want {
			t.Fatalf("run %d: admission %q, want %q", i, r.Admission, want)
		}
		if want == quota.Pending && (r.Position != i-1 || r.Status != engine.RunQueued || !strings.Contains(r.Reason, "2 at once")) {
			t.Fatalf("pending run %d: position %d status %s reason %q", i, r.Position, r.Status, r.Reason)
		}
		if want == quota.Admitted && r.Status != engine.RunRunning {
			t.Fatalf("admitted run %d is %s", i, r.Status)
		}
	}
	// Requesting a waiting run directly does not jump the line.
	apply(t, s, runs[4].ID, engine.Event{Kind: engine.RunRequested})
	if r := getRun(t, s, tn.ID, runs[4].ID); r.Status != engine.RunQueued || r.Admission != quota.Pending {
		t.Fatalf("RunRequested on a pending run started it: %s/%s", r.Status, r.Admission)
	}
	// Cancelling a pending run takes it out of the line.
	apply(t, s, runs[3].ID, engine.Event{Kind: engine.CancelRequested, Reason: "not needed"})
	if r := getRun(t, s, tn.ID, runs[4].ID); r.Position != 2 {
		t.Fatalf("after a cancel ahead of it, position %d, want 2", r.Position)
	}
	// The finish that frees a slot admits the oldest pending run.
	finishOne(t, s, nil, runs[0].ID, 0)
	if r := getRun(t, s, tn.ID, runs[2].ID); r.Status != engine.RunRunning || r.Admission != quota.Admitted || r.Reason != "" {
		t.Fatalf("oldest pending run after a finish: %s/%s %q", r.Status, r.Admission, r.Reason)
	}
	if r := getRun(t, s, tn.ID, runs[4].ID); r.Position != 1 {
		t.Fatalf("position %d, want 1", r.Position)
	}
	u, err := s.Usage(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Running != 2 || u.Pending != 1 || u.Blocked != 0 || len(u.Queue) != 1 || u.Queue[0] != runs[4].ID {
		t.Fatalf("usage %+v", u)
	}
	checkLine(t, s, tn.ID, "after a cancel and a promotion")
	// Another tenant's line never delays this one.
	other := onPlan(t, s, "other", 1000, 1)
	if r := admit(t, s, other.ID); r.Admission != quota.Admitted {
		t.Fatalf("another tenant's run waits: %s", r.Admission)
	}
}

func testQuotaMinutes(t *testing.T, open Opener) {
	clock := NewClock()
	s := open(t, store.WithClock(clock.Now))
	ctx := context.Background()
	tn := onPlan(t, s, "tiny", 1, 5)
	r1 := admit(t, s, tn.ID)
	finishOne(t, s, clock, r1.ID, 61*time.Second) // 2 minutes: overshoots the 1 it started with
	u, err := s.Usage(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Account.Used != 2 || u.Account.Remaining() != -1 {
		t.Fatalf("after a 61 s step: used %d remaining %d, want 2 and -1", u.Account.Used, u.Account.Remaining())
	}
	led, err := s.Ledger(ctx, tn.ID)
	if err != nil || len(led) != 1 || led[0].Minutes != 2 || led[0].RunID != r1.ID || led[0].Step != "one" || led[0].Attempt != 1 {
		t.Fatalf("ledger %+v, %v", led, err)
	}
	blocked := admit(t, s, tn.ID)
	if blocked.Admission != quota.Blocked || blocked.Status != engine.RunQueued ||
		!strings.Contains(blocked.Reason, "quota exhausted: 2 of 1 minutes used this cycle") {
		t.Fatalf("run without minutes: %s/%s %q", blocked.Admission, blocked.Status, blocked.Reason)
	}
	if n, err := s.AdmitWaiting(ctx); err != nil || n != 0 {
		t.Fatalf("AdmitWaiting without minutes admitted %d, %v", n, err)
	}
	// A grant starts it by itself.
	if err := s.GrantMinutes(ctx, tn.ID, 5); err != nil {
		t.Fatal(err)
	}
	if r := getRun(t, s, tn.ID, blocked.ID); r.Admission != quota.Admitted || r.Status != engine.RunRunning {
		t.Fatalf("blocked run after a grant: %s/%s", r.Admission, r.Status)
	}
	finishOne(t, s, clock, blocked.ID, 10*time.Minute) // used 12 of 1+5
	blocked2 := admit(t, s, tn.ID)
	if blocked2.Admission != quota.Blocked {
		t.Fatalf("want blocked, got %s", blocked2.Admission)
	}
	// A new cycle: the overshoot (12 − 6) is debt, so 1 − 6 < 0: still blocked.
	clock.Advance(31 * 24 * time.Hour)
	if _, err := s.AdmitWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	u, _ = s.Usage(ctx, tn.ID)
	if u.Account.Debt != 6 || u.Account.Used != 0 || u.Blocked != 1 {
		t.Fatalf("after the rollover: %+v", u)
	}
	// A plan with more minutes: the blocked run starts.
	if err := s.PutPlan(ctx, quota.Plan{Name: "bigger", Minutes: 100, MaxConcurrent: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPlan(ctx, tn.ID, "bigger"); err != nil {
		t.Fatal(err)
	}
	if r := getRun(t, s, tn.ID, blocked2.ID); r.Admission != quota.Admitted {
		t.Fatalf("after a plan change: %s", r.Admission)
	}
	if err := s.SetPlan(ctx, tn.ID, "no-such-plan"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown plan: %v", err)
	}
	if err := s.GrantMinutes(ctx, tn.ID, 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("zero grant: %v", err)
	}
	if _, err := s.Usage(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func testQuotaReused(t *testing.T, open Opener) {
	s := open(t)
	tn := onPlan(t, s, "reuse", 100, 1)
	r, err := s.CreateAndAdmit(context.Background(), store.NewRun{
		TenantID: tn.ID, File: ".runbook.yml", Source: []byte(diamondYAML), Trigger: "rerun",
		Reused: []string{"A", "B"}, ReusedReason: "succeeded in run 1",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range r.Steps {
		if (st.Name == "A" || st.Name == "B") && (st.Status != engine.StepSucceeded || st.Reason != "succeeded in run 1") {
			t.Fatalf("step %s: %s %q", st.Name, st.Status, st.Reason)
		}
		if st.Name == "C" && st.Status != engine.StepQueued {
			t.Fatalf("step C after reuse: %s", st.Status)
		}
	}
	if _, err := s.CreateAndAdmit(context.Background(), store.NewRun{
		TenantID: tn.ID, File: ".runbook.yml", Source: []byte(oneStepYAML), Reused: []string{"nope"},
	}); !errors.Is(err, store.ErrRejected) {
		t.Fatalf("reusing an unknown step: %v", err)
	}
	if u, _ := s.Usage(context.Background(), tn.ID); u.Running != 1 || u.Pending != 0 {
		t.Fatalf("a rejected run left something behind: %+v", u)
	}
}

// testQuotaUsages: Usages (one grouped read, for metrics) agrees with
// Usage for every tenant with an account, line aside, and leaves out
// tenants without one.
func testQuotaUsages(t *testing.T, open Opener) {
	clock := NewClock()
	s := open(t, store.WithClock(clock.Now))
	ctx := context.Background()
	busy := onPlan(t, s, "solo", 100, 1)
	for range 3 {
		admit(t, s, busy.ID) // one running, two pending
	}
	done := admit(t, s, onPlan(t, s, "spare", 100, 3).ID)
	finishOne(t, s, clock, done.ID, time.Second) // ended: counts nowhere, bills 1 minute
	broke := onPlan(t, s, "tiny", 1, 5)
	r := admit(t, s, broke.ID)
	finishOne(t, s, clock, r.ID, 61*time.Second) // 2 minutes of 1
	admit(t, s, broke.ID)                        // blocked
	idle := onPlan(t, s, "idle", 10, 1)
	tenant(t, s, "no-account")

	check := func(when string) []store.Usage {
		t.Helper()
		us, err := s.Usages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, u := range us {
			ids = append(ids, u.TenantID)
			want, err := s.Usage(ctx, u.TenantID)
			if err != nil {
				t.Fatal(err)
			}
			want.Queue = nil
			if !reflect.DeepEqual(u, want) {
				t.Fatalf("%s: Usages has %+v for tenant %d, Usage %+v", when, u, u.TenantID, want)
			}
		}
		if want := []int64{busy.ID, done.TenantID, broke.ID, idle.ID}; !slices.Equal(ids, want) {
			t.Fatalf("%s: Usages lists tenants %v, want %v", when, ids, want)
		}
		return us
	}
	us := check("now")
	if u := us[0]; u.Running != 1 || u.Pending != 2 || u.Blocked != 0 || u.Account.Plan.Name != "solo" {
		t.Fatalf("busy tenant: %+v", u)
	}
	if u := us[1]; u.Running != 0 || u.Pending != 0 || u.Account.Used != 1 {
		t.Fatalf("tenant whose run ended: %+v", u)
	}
	if u := us[2]; u.Running != 0 || u.Blocked != 1 || u.Account.Used != 2 || u.Account.Remaining() != -1 {
		t.Fatalf("tenant without minutes: %+v", u)
	}
	if u := us[3]; u.Running+u.Pending+u.Blocked != 0 || u.Account.Remaining() != 10 {
		t.Fatalf("idle tenant: %+v", u)
	}
	clock.Advance(32 * 24 * time.Hour) // read as rolled over, without a write
	us = check("a cycle later")
	if u := us[2]; u.Account.Used != 0 || u.Account.Debt != 1 {
		t.Fatalf("tenant without minutes, a cycle later: %+v", u)
	}
}

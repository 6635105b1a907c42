package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// waitingAs fails unless the run waits in state ad with a reason that
// contains want.
func waitingAs(t testing.TB, s store.Store, tenantID, runID int64, ad quota.Admission, want, when string) {
	t.Helper()
	r := getRun(t, s, tenantID, runID)
	if r.Admission != ad || !strings.Contains(r.Reason, want) {
		t.Fatalf("%s: run %d is %s with reason %q, want %s with %q", when, runID, r.Admission, r.Reason, ad, want)
	}
}

// moveTo puts plan p and moves the tenant to it.
func moveTo(t testing.TB, s store.Store, tenantID int64, p quota.Plan) {
	t.Helper()
	if err := s.PutPlan(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPlan(context.Background(), tenantID, p.Name); err != nil {
		t.Fatal(err)
	}
}

// testQuotaReasonsFollowFigures: a waiting run's reason quotes figures (the
// minutes used, the plan's limits); when they change, so does the reason.
func testQuotaReasonsFollowFigures(t *testing.T, open Opener) {
	clock := NewClock()
	s := open(t, store.WithClock(clock.Now))
	ctx := context.Background()
	tn := onPlan(t, s, "reasons", 1, 5)
	finishOne(t, s, clock, admit(t, s, tn.ID).ID, 10*time.Minute) // 10 of 1
	blocked := admit(t, s, tn.ID)
	waitingAs(t, s, tn.ID, blocked.ID, quota.Blocked, "10 of 1 minutes", "first blocked")

	if err := s.GrantMinutes(ctx, tn.ID, 2); err != nil {
		t.Fatal(err)
	}
	waitingAs(t, s, tn.ID, blocked.ID, quota.Blocked, "10 of 3 minutes", "after a grant that is not enough")

	// A new cycle: the overshoot (10 − 3) is debt.
	clock.Advance(31 * 24 * time.Hour)
	if _, err := s.AdmitWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	waitingAs(t, s, tn.ID, blocked.ID, quota.Blocked, "7 of 1 minutes", "in a new cycle")

	moveTo(t, s, tn.ID, quota.Plan{Name: "reasons-5", Minutes: 5, MaxConcurrent: 1})
	waitingAs(t, s, tn.ID, blocked.ID, quota.Blocked, "7 of 5 minutes", "on a bigger plan that is not enough")

	// Enough minutes: the blocked run starts, and the next one waits for
	// the one slot, saying so; a plan move changes what it quotes.
	if err := s.GrantMinutes(ctx, tn.ID, 100); err != nil {
		t.Fatal(err)
	}
	pending := admit(t, s, tn.ID)
	waitingAs(t, s, tn.ID, pending.ID, quota.Pending, "the reasons-5 plan runs 1 at once", "waiting for a slot")
	moveTo(t, s, tn.ID, quota.Plan{Name: "reasons-solo", Minutes: 5, MaxConcurrent: 1})
	waitingAs(t, s, tn.ID, pending.ID, quota.Pending, "the reasons-solo plan runs 1 at once", "after a plan move")
	checkLine(t, s, tn.ID, "after the reasons changed")
}

// testQuotaPutPlanAdmits: raising a plan's limits admits the waiting runs
// of its tenants at once, as a grant or a plan move does.
func testQuotaPutPlanAdmits(t *testing.T, open Opener) {
	clock := NewClock()
	s := open(t, store.WithClock(clock.Now))
	ctx := context.Background()
	tn := onPlan(t, s, "raise", 1, 1)
	other := onPlan(t, s, "raise-other", 100, 1)
	running := admit(t, s, tn.ID)
	pending := admit(t, s, tn.ID)
	admit(t, s, other.ID)
	otherPending := admit(t, s, other.ID)
	waitingAs(t, s, tn.ID, pending.ID, quota.Pending, "runs 1 at once", "one slot")

	if err := s.PutPlan(ctx, quota.Plan{Name: "raise", Minutes: 1, MaxConcurrent: 3}); err != nil {
		t.Fatal(err)
	}
	if r := getRun(t, s, tn.ID, pending.ID); r.Admission != quota.Admitted {
		t.Fatalf("after raising the plan's slots, the pending run is %s (%q), want admitted at once", r.Admission, r.Reason)
	}
	waitingAs(t, s, other.ID, otherPending.ID, quota.Pending, "the raise-other plan runs 1 at once", "another plan's tenant")

	// Out of minutes, then a plan with more: the blocked run starts at once.
	finishOne(t, s, clock, running.ID, 5*time.Minute)
	blocked := admit(t, s, tn.ID)
	waitingAs(t, s, tn.ID, blocked.ID, quota.Blocked, "5 of 1 minutes", "out of minutes")
	if err := s.PutPlan(ctx, quota.Plan{Name: "raise", Minutes: 100, MaxConcurrent: 3}); err != nil {
		t.Fatal(err)
	}
	if r := getRun(t, s, tn.ID, blocked.ID); r.Admission != quota.Admitted {
		t.Fatalf("after raising the plan's minutes, the blocked run is %s (%q), want admitted at once", r.Admission, r.Reason)
	}
	checkLine(t, s, tn.ID, "after the plan was raised")
	checkLine(t, s, other.ID, "after another plan was raised")
}

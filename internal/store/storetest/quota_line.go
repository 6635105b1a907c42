package storetest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// LineCounter is what a driver's tests expose (in an export_test.go) so the
// quota tests can compare the stored length of a tenant's line, which gives
// a new run its position without counting, with a real count.
type LineCounter interface {
	LineCounter(ctx context.Context, tenantID int64) (int, error)
}

// checkLine fails unless the tenant's stored line length equals the number
// of its pending queued runs.
func checkLine(t testing.TB, s store.Store, tenantID int64, when string) {
	t.Helper()
	lc, ok := s.(LineCounter)
	if !ok {
		t.Fatalf("%T does not expose LineCounter to its tests", s)
	}
	ctx := context.Background()
	n, err := lc.LineCounter(ctx, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Usage(ctx, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	if n != u.Pending {
		t.Fatalf("%s: the stored line length is %d, %d runs are pending", when, n, u.Pending)
	}
}

// testQuotaLine: the stored line length follows every way a run joins or
// leaves the line, and a new run at the tail gets its position from it.
func testQuotaLine(t *testing.T, open Opener) {
	clock := NewClock()
	s := open(t, store.WithClock(clock.Now))
	ctx := context.Background()
	tn := onPlan(t, s, "one-slot", 1, 1)
	first := admit(t, s, tn.ID)
	var waiting []store.Run
	for i := range 3 {
		r := admit(t, s, tn.ID)
		if r.Admission != quota.Pending || r.Position != i+1 {
			t.Fatalf("new run %d: %s at position %d, want pending at %d", i, r.Admission, r.Position, i+1)
		}
		waiting = append(waiting, r)
	}
	checkLine(t, s, tn.ID, "three pending")

	// Cancelling a pending run takes it out of the line and its length.
	apply(t, s, waiting[1].ID, engine.Event{Kind: engine.CancelRequested, Reason: "not needed"})
	checkLine(t, s, tn.ID, "after cancelling a pending run")
	if r := admit(t, s, tn.ID); r.Position != 3 {
		t.Fatalf("new run after a cancel: position %d, want 3", r.Position)
	}

	// A run requested earlier than the tail is not last: it is counted.
	early, err := s.CreateAndAdmit(ctx, store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte(oneStepYAML),
		RequestedAt: clock.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if early.Position != 1 {
		t.Fatalf("run requested before the line: position %d, want 1", early.Position)
	}
	checkLine(t, s, tn.ID, "after an early request")

	// Overshooting the minutes blocks the whole line; a grant brings it back.
	finishOne(t, s, clock, first.ID, 61*time.Second)
	checkLine(t, s, tn.ID, "after the line became blocked")
	if u, err := s.Usage(ctx, tn.ID); err != nil || u.Pending != 0 || u.Blocked != 4 {
		t.Fatalf("usage without minutes: %+v, %v", u, err)
	}
	if err := s.GrantMinutes(ctx, tn.ID, 100); err != nil {
		t.Fatal(err)
	}
	checkLine(t, s, tn.ID, "after a grant")
	if u, err := s.Usage(ctx, tn.ID); err != nil || u.Pending != 3 || u.Blocked != 0 || u.Running != 1 {
		t.Fatalf("usage after a grant: %+v, %v", u, err)
	}
	if r := getRun(t, s, tn.ID, early.ID); r.Admission != quota.Admitted {
		t.Fatalf("the earliest request was not admitted first: %s", r.Admission)
	}
}

// testQuotaLineRandom drives one tenant through a seeded random sequence
// of requests (some dated before the line), finishes, cancels, grants,
// plan changes and cycle rollovers, and checks after every step that the
// stored line length is the real count and that a new pending run's
// position is what counting gives.
func testQuotaLineRandom(t *testing.T, open Opener) {
	clock := NewClock()
	s := open(t, store.WithClock(clock.Now))
	ctx := context.Background()
	tn := onPlan(t, s, "small", 3, 2)
	if err := s.PutPlan(ctx, quota.Plan{Name: "large", Minutes: 1000, MaxConcurrent: 3}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 8))
	var runs []int64
	pick := func(ok func(store.Run) bool) (store.Run, bool) {
		var c []store.Run
		for _, id := range runs {
			if r := getRun(t, s, tn.ID, id); ok(r) {
				c = append(c, r)
			}
		}
		if len(c) == 0 {
			return store.Run{}, false
		}
		return c[rng.IntN(len(c))], true
	}
	for i := range 120 {
		var what string
		switch rng.IntN(8) {
		case 0, 1, 2:
			what = "request"
			nr := store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte(oneStepYAML)}
			if rng.IntN(4) == 0 {
				what, nr.RequestedAt = "early request", clock.Now().Add(-time.Duration(rng.IntN(3600))*time.Second)
			}
			r, err := s.CreateAndAdmit(ctx, nr)
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, r.ID)
			if g := getRun(t, s, tn.ID, r.ID); r.Admission == quota.Pending && g.Admission == quota.Pending && r.Position != g.Position {
				t.Fatalf("step %d: new run %d at position %d, counting gives %d", i, r.ID, r.Position, g.Position)
			}
		case 3:
			what = "finish"
			if r, ok := pick(func(r store.Run) bool { return r.Status == engine.RunRunning }); ok {
				finishOne(t, s, clock, r.ID, time.Duration(1+rng.IntN(120))*time.Second)
			}
		case 4:
			what = "cancel"
			if r, ok := pick(func(r store.Run) bool { return !r.Status.Terminal() }); ok {
				apply(t, s, r.ID, engine.Event{Kind: engine.CancelRequested, Reason: "cancelled"})
				if r.Status == engine.RunRunning {
					apply(t, s, r.ID, engine.Event{Kind: engine.ExecutorLost, Step: "one", Attempt: 1, Reason: "cancelled"})
				}
			}
		case 5:
			what = "grant"
			if err := s.GrantMinutes(ctx, tn.ID, int64(1+rng.IntN(3))); err != nil {
				t.Fatal(err)
			}
		case 6:
			what = "plan change"
			plan := "small"
			if rng.IntN(2) == 0 {
				plan = "large"
			}
			if err := s.SetPlan(ctx, tn.ID, plan); err != nil {
				t.Fatal(err)
			}
		case 7:
			what = "new cycle"
			clock.Advance(32 * 24 * time.Hour)
			if _, err := s.AdmitWaiting(ctx); err != nil {
				t.Fatal(err)
			}
		}
		checkLine(t, s, tn.ID, what)
	}
}

package sqlite_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlite"
	"github.com/runbookhq/runbook/internal/store/storetest"
)

const oneStep = "name: one\nsteps:\n  - name: one\n    command: \"true\"\n"

// TestQuotaProperty drives the real SQLite store through random requests,
// finishes, cancels, crashes (close and reopen), grants and cycle
// rollovers, and checks after every action: at most max_concurrent runs
// hold a slot; no run was admitted while an older one waits (FIFO); no run
// is pending while a slot is free; blocked runs exist only without
// minutes; and the minutes agree with an independent model.
func TestQuotaProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "quota-prop-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		clock := storetest.NewClock()
		open := func() store.Store {
			s, err := sqlite.Open(ctx, dir, store.WithClock(clock.Now))
			if err != nil {
				rt.Fatalf("open: %v", err)
			}
			return s
		}
		s := open()
		defer func() { s.Close() }()
		plan := quota.Plan{Name: "p", Minutes: rapid.Int64Range(0, 8).Draw(rt, "minutes"), MaxConcurrent: rapid.IntRange(1, 3).Draw(rt, "max")}
		tn, err := s.CreateTenant(ctx, "t")
		if err != nil {
			rt.Fatal(err)
		}
		must := func(err error) {
			if err != nil {
				rt.Fatal(err)
			}
		}
		must(s.PutPlan(ctx, plan))
		must(s.SetPlan(ctx, tn.ID, plan.Name))

		// The model: minutes of this cycle, and every run requested.
		var used, granted, debt, charged int64
		var runs []int64
		admittedEver := map[int64]bool{}

		runsIn := func() map[int64]store.Run {
			m := map[int64]store.Run{}
			for _, id := range runs {
				r, err := s.GetRun(ctx, tn.ID, id)
				must(err)
				m[id] = r
			}
			return m
		}
		pick := func(label string, ok func(store.Run) bool) (store.Run, bool) {
			all := runsIn()
			var c []store.Run
			for _, id := range runs {
				if ok(all[id]) {
					c = append(c, all[id])
				}
			}
			if len(c) == 0 {
				return store.Run{}, false
			}
			return c[rapid.IntRange(0, len(c)-1).Draw(rt, label)], true
		}
		apply := func(id int64, e engine.Event) {
			_, _, err := s.Apply(ctx, id, e)
			must(err)
		}

		for range rapid.IntRange(1, 40).Draw(rt, "actions") {
			switch rapid.IntRange(0, 6).Draw(rt, "action") {
			case 0, 1: // request
				r, err := s.CreateAndAdmit(ctx, store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte(oneStep)})
				must(err)
				runs = append(runs, r.ID)
				if g, err := s.GetRun(ctx, tn.ID, r.ID); err != nil || (r.Admission == quota.Pending && g.Admission == quota.Pending && r.Position != g.Position) {
					rt.Fatalf("new run %d at position %d, counting gives %d (%v)", r.ID, r.Position, g.Position, err)
				}
			case 2: // finish a running run
				r, ok := pick("finish", func(r store.Run) bool { return r.Status == engine.RunRunning })
				if !ok {
					continue
				}
				apply(r.ID, engine.Event{Kind: engine.StepStarted, Step: "one", Attempt: 1})
				d := time.Duration(rapid.IntRange(1, 200).Draw(rt, "seconds")) * time.Second
				clock.Advance(d)
				code := rapid.IntRange(0, 1).Draw(rt, "exit")
				apply(r.ID, engine.Event{Kind: engine.StepExited, Step: "one", Attempt: 1, ExitCode: code})
				m := quota.Minutes(time.Unix(0, 0), time.Unix(0, 0).Add(d))
				used += m
				charged += m
			case 3: // cancel a waiting or running run
				r, ok := pick("cancel", func(r store.Run) bool { return !r.Status.Terminal() })
				if !ok {
					continue
				}
				apply(r.ID, engine.Event{Kind: engine.CancelRequested, Reason: "cancelled"})
				if r.Status == engine.RunRunning { // its queued step reports it stopped
					apply(r.ID, engine.Event{Kind: engine.ExecutorLost, Step: "one", Attempt: 1, Reason: "cancelled"})
				}
			case 4: // crash: reopen what was committed
				s.Close()
				s = open()
			case 5: // a new cycle
				clock.Advance(32 * 24 * time.Hour)
				_, err := s.AdmitWaiting(ctx)
				must(err)
				debt = max(0, used+debt-plan.Minutes-granted)
				used, granted = 0, 0
			case 6: // a grant
				g := rapid.Int64Range(1, 5).Draw(rt, "grant")
				must(s.GrantMinutes(ctx, tn.ID, g))
				granted += g
			}

			all := runsIn()
			u, err := s.Usage(ctx, tn.ID)
			must(err)
			var waiting []int64
			active := 0
			for _, id := range runs {
				r := all[id]
				if r.Status != engine.RunQueued || r.Admission == quota.Admitted {
					admittedEver[id] = r.Admission == quota.Admitted || admittedEver[id]
				}
				if r.Status == engine.RunQueued && r.Admission != quota.Admitted {
					waiting = append(waiting, id)
				}
				if r.Admission == quota.Admitted && !r.Status.Terminal() {
					active++
				}
			}
			if active > plan.MaxConcurrent || u.Running != active {
				rt.Fatalf("%d runs hold a slot (usage says %d); the plan allows %d", active, u.Running, plan.MaxConcurrent)
			}
			for _, w := range waiting {
				for a := range admittedEver {
					if admittedEver[a] && a > w {
						rt.Fatalf("run %d was admitted while the older run %d waits", a, w)
					}
				}
			}
			remaining := plan.Minutes + granted - used - debt
			if u.Pending > 0 && active < plan.MaxConcurrent {
				rt.Fatalf("%d runs pending while %d of %d slots are taken", u.Pending, active, plan.MaxConcurrent)
			}
			if u.Blocked > 0 && remaining > 0 {
				rt.Fatalf("%d runs blocked with %d minutes left", u.Blocked, remaining)
			}
			if u.Account.Used != used || u.Account.Granted != granted || u.Account.Debt != debt || u.Account.Remaining() != remaining {
				rt.Fatalf("account %+v; model used %d granted %d debt %d", u.Account, used, granted, debt)
			}
			led, err := s.Ledger(ctx, tn.ID)
			must(err)
			var sum int64
			for _, c := range led {
				sum += c.Minutes
			}
			if sum != charged {
				rt.Fatalf("ledger sums to %d minutes, the model charged %d", sum, charged)
			}
			if u.Pending+u.Blocked != len(waiting) || !slices.IsSorted(u.Queue) {
				rt.Fatalf("usage %+v, %d waiting", u, len(waiting))
			}
			// The stored line length, which gives a new run its position,
			// is the real count.
			if n, err := s.(storetest.LineCounter).LineCounter(ctx, tn.ID); err != nil || n != u.Pending {
				rt.Fatalf("stored line length %d (%v), %d runs pending", n, err, u.Pending)
			}
		}
	})
}

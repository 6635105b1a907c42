// Package quota benchmarks admission against a long line: promoting the
// next pending run when a run finishes, and admitting (queueing) a new
// request, with 100 and 10,000 runs pending for one tenant, on SQLite and
// Postgres. Run:
//
//	go test ./bench/quota -bench . -benchtime 2000x -run '^$'
//
// Each benchmark reports p50/p99 in ms; the two line lengths side by side
// show whether the cost grows with the line.
package quota

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/sqlite"
	"github.com/runbookhq/runbook/internal/testdb"
)

const oneStep = "name: one\nsteps:\n  - name: one\n    command: \"true\"\n"

func stores(b *testing.B) map[string]func(b *testing.B) store.Store {
	return map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store {
			s, err := sqlite.Open(context.Background(), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(b *testing.B) store.Store {
			testdb.Require(b)
			s, err := postgres.Open(context.Background(), testdb.New(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// line makes a tenant on a one-at-once plan with one running run and
// pending runs waiting behind it.
func line(b *testing.B, s store.Store, pending int) int64 {
	ctx := context.Background()
	tn, err := s.CreateTenant(ctx, "t")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.PutPlan(ctx, quota.Plan{Name: "solo", Minutes: 1 << 40, MaxConcurrent: 1}); err != nil {
		b.Fatal(err)
	}
	if err := s.SetPlan(ctx, tn.ID, "solo"); err != nil {
		b.Fatal(err)
	}
	for range pending + 1 {
		request(b, s, tn.ID)
	}
	return tn.ID
}

func request(b *testing.B, s store.Store, tenant int64) store.Run {
	r, err := s.CreateAndAdmit(context.Background(), store.NewRun{TenantID: tenant, File: ".runbook.yml", Source: []byte(oneStep)})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkPromote times the Apply that finishes the running run and, in
// the same transaction, admits the head of the line. A new request keeps
// the line at its length (untimed).
func BenchmarkPromote(b *testing.B) {
	for name, open := range stores(b) {
		for _, n := range []int{100, 10_000} {
			b.Run(fmt.Sprintf("%s/pending=%d", name, n), func(b *testing.B) {
				ctx := context.Background()
				s := open(b)
				tenant := line(b, s, n)
				u, err := s.Usage(ctx, tenant)
				if err != nil || u.Pending != n {
					b.Fatalf("setup: %+v, %v", u, err)
				}
				running := u.Line[0] - 1 // the first run holds the slot
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					if _, _, err := s.Apply(ctx, running, engine.Event{Kind: engine.StepStarted, Step: "one", Attempt: 1}); err != nil {
						b.Fatal(err)
					}
					request(b, s, tenant)
					b.StartTimer()
					t0 := time.Now()
					if _, _, err := s.Apply(ctx, running, engine.Event{Kind: engine.StepExited, Step: "one", Attempt: 1}); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
					b.StopTimer()
					u, err := s.Usage(ctx, tenant)
					if err != nil || u.Running != 1 || u.Pending != n {
						b.Fatalf("after a finish: running %d pending %d, %v", u.Running, u.Pending, err)
					}
					running = next(b, s, tenant, running)
					b.StartTimer()
				}
				report(b, lat)
			})
		}
	}
}

// next is the run admitted after prev: the lowest id above it that runs.
func next(b *testing.B, s store.Store, tenant, prev int64) int64 {
	for id := prev + 1; ; id++ {
		r, err := s.GetRun(context.Background(), tenant, id)
		if err != nil {
			b.Fatal(err)
		}
		if r.Status == engine.RunRunning {
			return id
		}
	}
}

// BenchmarkRequest times CreateAndAdmit of a run that joins the line.
func BenchmarkRequest(b *testing.B) {
	for name, open := range stores(b) {
		for _, n := range []int{100, 10_000} {
			b.Run(fmt.Sprintf("%s/pending=%d", name, n), func(b *testing.B) {
				s := open(b)
				tenant := line(b, s, n)
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					t0 := time.Now()
					if r := request(b, s, tenant); r.Admission != quota.Pending {
						b.Fatalf("a run joined as %s", r.Admission)
					}
					lat = append(lat, time.Since(t0))
				}
				report(b, lat)
			})
		}
	}
}

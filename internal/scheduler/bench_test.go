package scheduler

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store/storetest"
)

// BenchmarkDependentStart measures dispatch: from a step's exit (the time on
// its StepExited event, taken as the executor returns) to its dependent's
// StepStarted (taken just before the executor is called), through the
// store, the outbox and the claim loop.
func BenchmarkDependentStart(b *testing.B) {
	for _, bk := range []struct {
		name string
		open opener
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		b.Run(bk.name, func(b *testing.B) {
			r := newRig(b, rigOpts{open: bk.open})
			const n = 10
			src := storetest.ChainYAML(n)
			var gaps []time.Duration
			for b.Loop() {
				run := r.submit(src, nil)
				if run = r.waitEnd(run.ID); run.Status != engine.RunSucceeded {
					b.Fatalf("run %s", run.Status)
				}
				evs := r.events(run.ID)
				for i := 1; i < n; i++ {
					exit := find(evs, engine.StepExited, fmt.Sprintf("s%d", i-1), 1)
					start := find(evs, engine.StepStarted, fmt.Sprintf("s%d", i), 1)
					gaps = append(gaps, evs[start].Time.Sub(evs[exit].Time))
				}
			}
			slices.Sort(gaps)
			b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(gaps[len(gaps)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

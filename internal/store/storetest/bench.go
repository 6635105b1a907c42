package storetest

import (
	"fmt"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/workflow"
)

// BenchApply measures one event through Apply: lock, decide, log, project,
// enqueue, commit. Each op is the next event of a run of 50 independent
// steps (step_started or step_exited: one step row changed; the last exit
// also finishes the run); a new run is created, untimed, when one ends.
func BenchApply(b *testing.B, storage Storage) {
	s := storage(b)(b)
	tn := tenant(b, s, "bench")
	const width = 50
	src := wideYAML(width)
	var (
		runID int64
		next  []engine.Event
	)
	b.ReportAllocs()
	for b.Loop() {
		if len(next) == 0 {
			b.StopTimer()
			r := createRun(b, s, tn.ID, src, workflow.Vars{})
			runID = r.ID
			next = append(next, engine.Event{Kind: engine.RunRequested})
			for i := range width {
				step := fmt.Sprintf("s%d", i)
				next = append(next, engine.Event{Kind: engine.StepStarted, Step: step, Attempt: 1},
					engine.Event{Kind: engine.StepExited, Step: step, Attempt: 1})
			}
			b.StartTimer()
		}
		apply(b, s, runID, next[0])
		next = next[1:]
	}
}

package engine

import (
	"fmt"
	"testing"

	"github.com/runbookhq/runbook/internal/workflow"
)

// BenchmarkDecide runs whole 1000-step runs (every step starts and exits 0)
// and reports the cost of one Decide as ns/event.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{50, 1000} {
		for _, shape := range []string{"chain", "fanout"} {
			w := benchWorkflow(shape, n)
			events := runToEnd(b, w)
			b.Run(fmt.Sprintf("%s-%d", shape, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s := New(w, Vars{})
					for _, e := range events {
						s, _, _ = Decide(s, e)
					}
					if s.Status != RunSucceeded {
						b.Fatalf("run ended %s", s.Status)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
			})
		}
	}
}

// benchWorkflow is a chain (each step after the previous) or a fan-out (every
// step after the first) of n steps.
func benchWorkflow(shape string, n int) *workflow.Workflow {
	steps := make([]workflow.Step, n)
	for i := range steps {
		steps[i] = workflow.Step{Name: fmt.Sprintf("step-%d", i), Command: "true"}
		switch {
		case i == 0:
		case shape == "chain":
			steps[i].DependsOn = []string{steps[i-1].Name}
		default:
			steps[i].DependsOn = []string{steps[0].Name}
		}
	}
	return &workflow.Workflow{Name: shape, Steps: steps}
}

// runToEnd drives a run in which every step succeeds and returns its events.
func runToEnd(b *testing.B, w *workflow.Workflow) []Event {
	s := New(w, Vars{})
	queue := []Event{requested()}
	var log []Event
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		var cmds []Command
		var err error
		if s, cmds, err = Decide(s, e); err != nil {
			b.Fatal(err)
		}
		log = append(log, e)
		for _, c := range cmds {
			if c.Kind == StartStep {
				queue = append(queue, started(c.Step, c.Attempt), exited(c.Step, c.Attempt, 0))
			}
		}
	}
	if s.Status != RunSucceeded {
		b.Fatalf("setup run ended %s", s.Status)
	}
	return log
}

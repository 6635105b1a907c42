package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
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

// BenchTrigger measures the store's part of a trigger: CreateAndAdmit of a
// 20-step chain for a tenant with free slots and minutes, then the claim of
// its first start_step. Each run is cancelled afterwards (untimed) so the
// tenant stays under its concurrency limit.
func BenchTrigger(b *testing.B, storage Storage) {
	s := storage(b)(b)
	ctx := context.Background()
	tn := tenant(b, s, "bench")
	src := ChainYAML(20)
	b.Run("admit", func(b *testing.B) {
		for b.Loop() {
			r := admitRun(b, s, tn.ID, src)
			b.StopTimer()
			endRun(b, s, r.ID)
			b.StartTimer()
		}
	})
	b.Run("admit+claim", func(b *testing.B) {
		for b.Loop() {
			r := admitRun(b, s, tn.ID, src)
			cmds, err := s.ClaimCommands(ctx, "bench", 32, time.Minute)
			if err != nil || len(cmds) == 0 {
				b.Fatalf("ClaimCommands: %d commands, %v", len(cmds), err)
			}
			b.StopTimer()
			completeAll(b, s, cmds)
			endRun(b, s, r.ID)
			b.StartTimer()
		}
	})
}

func admitRun(b *testing.B, s store.Store, tenantID int64, src string) store.Run {
	r, err := s.CreateAndAdmit(context.Background(), store.NewRun{
		TenantID: tenantID, File: ".runbook.yml", Source: []byte(src), Trigger: "manual",
	})
	if err != nil || r.Admission != quota.Admitted {
		b.Fatalf("CreateAndAdmit: %+v, %v", r.Admission, err)
	}
	return r
}

// endRun ends the run as a cancel does (its first step stops at once) and
// completes every command left in the outbox.
func endRun(b *testing.B, s store.Store, runID int64) {
	apply(b, s, runID, engine.Event{Kind: engine.StepStarted, Step: "s0", Attempt: 1})
	apply(b, s, runID, engine.Event{Kind: engine.CancelRequested, Reason: "bench"})
	if st, _ := apply(b, s, runID, engine.Event{Kind: engine.StepExited, Step: "s0", Attempt: 1, ExitCode: -1}); !st.Status.Terminal() {
		b.Fatalf("run %d is still %s after its cancel", runID, st.Status)
	}
	for {
		cmds, err := s.ClaimCommands(context.Background(), "bench", 32, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(cmds) == 0 {
			return
		}
		completeAll(b, s, cmds)
	}
}

func completeAll(b *testing.B, s store.Store, cmds []store.Command) {
	for _, c := range cmds {
		complete(b, s, c)
	}
}

// ChainYAML is a workflow of n `true` steps, each depending on the one
// before.
func ChainYAML(n int) string {
	var sb strings.Builder
	sb.WriteString("name: chain\nsteps:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  - name: s%d\n    command: \"true\"\n", i)
		if i > 0 {
			fmt.Fprintf(&sb, "    depends_on: [s%d]\n", i-1)
		}
	}
	return sb.String()
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

func testCancelledContext(t *testing.T, open Opener) {
	s := open(t)
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, diamondYAML, workflow.Vars{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Apply(ctx, r.ID, engine.Event{Kind: engine.RunRequested}); err == nil {
		t.Fatal("Apply with a cancelled context succeeded")
	}
	if _, err := s.CreateRun(ctx, store.NewRun{TenantID: tn.ID, File: "f", Source: []byte(diamondYAML)}); err == nil {
		t.Fatal("CreateRun with a cancelled context succeeded")
	}
	got := getRun(t, s, tn.ID, r.ID)
	if got.Status != engine.RunQueued || got.LastSeq != 0 || len(claim(t, s, "w", 10)) != 0 {
		t.Fatalf("after a cancelled Apply the run is %s at seq %d: want nothing written", got.Status, got.LastSeq)
	}
	// The store still works with a live context.
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
}

// testCloseMidway closes the store while events are being applied, then
// reopens it: every call after the close fails without panicking, and the
// stored state is exactly the last committed one.
func testCloseMidway(t *testing.T, open Opener) {
	s := open(t)
	tn := tenant(t, s, "acme")
	const width = 30
	r := createRun(t, s, tn.ID, wideYAML(width), workflow.Vars{})
	evs := []engine.Event{{Kind: engine.RunRequested}}
	for i := range width {
		evs = append(evs, engine.Event{Kind: engine.StepStarted, Step: fmt.Sprintf("s%d", i), Attempt: 1})
	}

	closeAfter := 10
	closed := make(chan error)
	var (
		ok      int
		lastOK  engine.State
		failure error
	)
	for i, e := range evs {
		if i == closeAfter {
			// Close concurrently with the next Apply.
			go func() { closed <- s.Close() }()
		}
		st, _, err := s.Apply(context.Background(), r.ID, e)
		if err != nil {
			failure = err
			break
		}
		ok++
		lastOK = st
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if failure == nil {
		if _, _, failure = s.Apply(context.Background(), r.ID, evs[len(evs)-1]); failure == nil {
			t.Fatal("Apply after Close succeeded")
		}
	}
	ctx := context.Background()
	if _, err := s.GetRun(ctx, tn.ID, r.ID); err == nil {
		t.Error("GetRun after Close succeeded")
	}
	if _, err := s.ClaimCommands(ctx, "w", 1, leaseTime); err == nil {
		t.Error("ClaimCommands after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s2 := open(t)
	got := getRun(t, s2, tn.ID, r.ID)
	if got.LastSeq != int64(ok) {
		t.Fatalf("after reopening, LastSeq = %d, but %d Apply calls succeeded (the last failed with %v)", got.LastSeq, ok, failure)
	}
	checkProjection(t, got, lastOK)
	checkReplay(t, s2, got, lastOK)
	// The reopened store carries on where the first stopped. (When Close
	// lost the race to every Apply, there is nothing left to apply.)
	if ok < len(evs) {
		if _, _, err := s2.Apply(ctx, r.ID, evs[ok]); err != nil && !errors.Is(err, store.ErrRejected) {
			t.Fatalf("Apply after reopening: %v", err)
		}
	}
}

package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

func testOutboxLease(t *testing.T, open Opener) {
	clk := NewClock()
	s := open(t, store.WithClock(clk.Now))
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	r := createRun(t, s, tn.ID, "steps:\n  - name: only\n    command: \"true\"\n", workflow.Vars{})
	apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})

	a := claim(t, s, "a", 10)
	if len(a) != 1 || a[0].Owner != "a" || a[0].Claims != 1 || !a[0].LeaseUntil.Equal(clk.Now().Add(leaseTime)) {
		t.Fatalf("first claim = %+v, want one command leased to a for %v", a, leaseTime)
	}
	if b := claim(t, s, "b", 10); len(b) != 0 {
		t.Fatalf("while a's lease holds, b claimed %+v", b)
	}
	clk.Advance(leaseTime / 2)
	if err := s.ExtendLease(ctx, a[0].ID, "a", leaseTime); err != nil {
		t.Fatalf("ExtendLease by its owner: %v", err)
	}
	clk.Advance(leaseTime / 2)
	if b := claim(t, s, "b", 10); len(b) != 0 {
		t.Fatalf("after a extended its lease, b claimed %+v", b)
	}
	clk.Advance(leaseTime / 2) // now past the extended lease: a is presumed dead
	b := claim(t, s, "b", 10)
	if len(b) != 1 || b[0].ID != a[0].ID || b[0].Owner != "b" || b[0].Claims != 2 {
		t.Fatalf("after a's lease expired, b claimed %+v, want the same command, claim 2", b)
	}
	if err := s.CompleteCommand(ctx, a[0].ID, "a"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("complete by the old owner: err = %v, want ErrConflict", err)
	}
	if err := s.ExtendLease(ctx, a[0].ID, "a", leaseTime); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("extend by the old owner: err = %v, want ErrConflict", err)
	}
	complete(t, s, b[0])
	complete(t, s, b[0]) // twice is harmless
	clk.Advance(10 * leaseTime)
	if c := claim(t, s, "c", 10); len(c) != 0 {
		t.Fatalf("a completed command was handed out again: %+v", c)
	}
	if err := s.ExtendLease(ctx, b[0].ID, "b", leaseTime); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("extend a done command: err = %v, want ErrNotFound", err)
	}
	if err := s.CompleteCommand(ctx, b[0].ID+1000, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("complete a missing command: err = %v, want ErrNotFound", err)
	}
	for _, bad := range []struct {
		owner string
		limit int
		lease time.Duration
	}{{"", 1, time.Second}, {"x", 0, time.Second}, {"x", 1, 0}} {
		if _, err := s.ClaimCommands(ctx, bad.owner, bad.limit, bad.lease); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ClaimCommands(%q, %d, %v): err = %v, want ErrInvalid", bad.owner, bad.limit, bad.lease, err)
		}
	}
}

// testConcurrentClaimers: claimers racing on one outbox never get the same
// command, and together get every one.
func testConcurrentClaimers(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	tn := tenant(t, s, "acme")
	const runs, width = 10, 12
	for range runs {
		r := createRun(t, s, tn.ID, wideYAML(width), workflow.Vars{})
		apply(t, s, r.ID, engine.Event{Kind: engine.RunRequested})
	}
	var (
		mu    sync.Mutex
		seen  = map[int64]string{}
		wg    sync.WaitGroup
		errCh = make(chan error, 8)
	)
	for w := range 8 {
		owner := string(rune('a' + w))
		wg.Go(func() {
			for {
				cmds, err := s.ClaimCommands(ctx, owner, 3, time.Hour)
				if err != nil {
					errCh <- err
					return
				}
				if len(cmds) == 0 {
					return
				}
				for _, c := range cmds {
					mu.Lock()
					if prev, dup := seen[c.ID]; dup {
						mu.Unlock()
						errCh <- errors.New("command handed to both " + prev + " and " + owner)
						return
					}
					seen[c.ID] = owner
					mu.Unlock()
					if err := s.CompleteCommand(ctx, c.ID, owner); err != nil {
						errCh <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Error(err)
	}
	if len(seen) != runs*width {
		t.Fatalf("claimed %d distinct commands, want %d", len(seen), runs*width)
	}
}

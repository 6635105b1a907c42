package store

import (
	"context"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
)

// AdmitTx is what Fill needs from a driver's open write transaction. On
// Postgres, Account and Queue lock the tenant's account row, which
// serializes every admission and charge of one tenant.
type AdmitTx interface {
	// Account returns the tenant's account as stored (not rolled over),
	// creating it on the default plan with its cycle starting at now.
	Account(ctx context.Context, tenantID int64, now time.Time) (quota.Account, error)
	// Queue is Account plus the rest of what Fill decides on, read at once:
	// on Postgres one round trip instead of four on the path from a
	// trigger to its first step.
	Queue(ctx context.Context, tenantID int64, now time.Time) (Queue, error)
	SaveAccount(ctx context.Context, tenantID int64, a quota.Account) error
	// Head is the tenant's oldest queued run in state ad.
	Head(ctx context.Context, tenantID int64, ad quota.Admission) (runID int64, ok bool, err error)
	// Rewait moves every queued run of the tenant in state from to state
	// to, with reason. With from == to it only rewrites the reasons.
	Rewait(ctx context.Context, tenantID int64, from, to quota.Admission, reason string) error
	// Request marks the run admitted and applies engine.RunRequested.
	// ended: the run ended at once (every step was skipped or reused), so
	// it holds no slot.
	Request(ctx context.Context, runID int64) (ended bool, err error)
}

// Queue is a tenant's account and its queue of waiting runs as Fill finds
// them. (Not "line": that word belongs to log lines.)
type Queue struct {
	Account quota.Account // as stored, not rolled over
	Active  int           // admitted runs that have not ended
	// Heads are the two oldest pending runs, 0 where the queue is shorter.
	// Two, so that admitting the head also tells whether the queue is now
	// empty, without another read.
	Heads   [2]int64
	Blocked bool // some queued run is blocked
}

// Fill admits the tenant's queue as far as its minutes and slots allow, in
// the caller's transaction. Without minutes, every pending run becomes
// blocked; with minutes, blocked runs rejoin the queue by request time.
// waitReason is why a run still in the queue waits.
func Fill(ctx context.Context, tx AdmitTx, tenantID int64, now time.Time) (admitted int, waitReason string, err error) {
	return readAndFill(ctx, tx, tenantID, now, false)
}

// Refill is Fill after a change of the figures the waiting runs' reasons
// quote (a grant, a plan's limits, the tenant's plan): it also rewrites
// the reasons of the runs still waiting.
func Refill(ctx context.Context, tx AdmitTx, tenantID int64, now time.Time) (admitted int, waitReason string, err error) {
	return readAndFill(ctx, tx, tenantID, now, true)
}

func readAndFill(ctx context.Context, tx AdmitTx, tenantID int64, now time.Time, restate bool) (int, string, error) {
	l, err := tx.Queue(ctx, tenantID, now)
	if err != nil {
		return 0, "", err
	}
	ids, why, err := fill(ctx, tx, tenantID, now, l, restate)
	return len(ids), why, err
}

// FillQueue is Fill from a Queue the caller has read already, in the same
// transaction. It returns the runs it admitted.
func FillQueue(ctx context.Context, tx AdmitTx, tenantID int64, now time.Time, l Queue) (admitted []int64, waitReason string, err error) {
	return fill(ctx, tx, tenantID, now, l, false)
}

// fill is FillQueue; restate: the figures the reasons quote have changed.
// A new cycle changes them too. Blocked runs get the current figures
// whenever Fill blocks (that path is rare); pending runs only on restate,
// which keeps the path from a trigger to its first step free of it.
func fill(ctx context.Context, tx AdmitTx, tenantID int64, now time.Time, l Queue, restate bool) (admitted []int64, waitReason string, err error) {
	a, changed := quota.Rollover(l.Account, now)
	if changed {
		if err := tx.SaveAccount(ctx, tenantID, a); err != nil {
			return nil, "", err
		}
		restate = true
	}
	active := l.Active
	if quota.Next(a, active) == quota.Block {
		why := quota.BlockedReason(a)
		if l.Blocked {
			if err := tx.Rewait(ctx, tenantID, quota.Blocked, quota.Blocked, why); err != nil {
				return nil, why, err
			}
		}
		if l.Heads[0] == 0 {
			return nil, why, nil // no pending run to block
		}
		return nil, why, tx.Rewait(ctx, tenantID, quota.Pending, quota.Blocked, why)
	}
	why := quota.PendingReason(a)
	heads := l.Heads[:]
	if l.Blocked {
		if err := tx.Rewait(ctx, tenantID, quota.Blocked, quota.Pending, why); err != nil {
			return nil, "", err
		}
		heads = nil // the queue changed: read its head again
	}
	for quota.Next(a, active) == quota.Admit {
		var id int64
		if len(heads) > 0 {
			id, heads = heads[0], heads[1:]
		} else if id, _, err = tx.Head(ctx, tenantID, quota.Pending); err != nil {
			return admitted, why, err
		}
		if id == 0 {
			return admitted, why, nil // the queue is empty
		}
		ended, err := tx.Request(ctx, id)
		if err != nil {
			return admitted, why, err
		}
		admitted = append(admitted, id)
		if !ended {
			active++
		}
	}
	if restate && (len(heads) == 0 || heads[0] != 0) { // some run may still wait
		err = tx.Rewait(ctx, tenantID, quota.Pending, quota.Pending, why)
	}
	return admitted, why, err
}

// LoadAccount reads the tenant's account and rolls it into the cycle that
// holds now, saving it when a cycle ended.
func LoadAccount(ctx context.Context, tx AdmitTx, tenantID int64, now time.Time) (quota.Account, error) {
	a, err := tx.Account(ctx, tenantID, now)
	if err != nil {
		return a, err
	}
	a, changed := quota.Rollover(a, now)
	if changed {
		err = tx.SaveAccount(ctx, tenantID, a)
	}
	return a, err
}

// Charges lists what the transition from prev to next bills: every attempt
// that was running in prev and is not running in next (it exited, timed
// out, was lost or cancelled) costs its minutes up to at,
// the time of the event that ended it.
func Charges(prev, next engine.State, at time.Time) []Charge {
	var cs []Charge
	for i := range prev.Steps {
		p, n := prev.Steps[i], next.Steps[i]
		if p.Status != engine.StepRunning || (n.Status == engine.StepRunning && n.Attempt == p.Attempt) {
			continue
		}
		cs = append(cs, Charge{Step: p.Name, Attempt: p.Attempt, Minutes: quota.Minutes(p.StartedAt, at), At: at})
	}
	return cs
}

// Ended reports whether the transition ended the run: its slot frees.
func Ended(prev, next engine.State) bool { return !prev.Status.Terminal() && next.Status.Terminal() }

package store

import (
	"context"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
)

// AdmitTx is what Fill needs from a driver's open write transaction. On
// Postgres, Account locks the tenant's account row, which serializes every
// admission and charge of one tenant.
type AdmitTx interface {
	// Account returns the tenant's account as stored (not rolled over),
	// creating it on the default plan with its cycle starting at now.
	Account(ctx context.Context, tenantID int64, now time.Time) (quota.Account, error)
	SaveAccount(ctx context.Context, tenantID int64, a quota.Account) error
	// Active counts the tenant's admitted runs that have not ended.
	Active(ctx context.Context, tenantID int64) (int, error)
	// Head is the tenant's oldest queued run in state ad.
	Head(ctx context.Context, tenantID int64, ad quota.Admission) (runID int64, ok bool, err error)
	// Rewait moves every queued run of the tenant in state from to state to.
	Rewait(ctx context.Context, tenantID int64, from, to quota.Admission, reason string) error
	// Request marks the run admitted and applies engine.RunRequested.
	Request(ctx context.Context, runID int64) error
}

// Fill admits the tenant's line as far as its minutes and slots allow, in
// the caller's transaction. Without minutes, every pending run becomes
// blocked; with minutes, blocked runs rejoin the line by request time.
// waitReason is why a run still in the line waits.
func Fill(ctx context.Context, tx AdmitTx, tenantID int64, now time.Time) (admitted int, waitReason string, err error) {
	a, err := LoadAccount(ctx, tx, tenantID, now)
	if err != nil {
		return 0, "", err
	}
	active, err := tx.Active(ctx, tenantID)
	if err != nil {
		return 0, "", err
	}
	if quota.Next(a, active) == quota.Block {
		why := quota.BlockedReason(a)
		return 0, why, tx.Rewait(ctx, tenantID, quota.Pending, quota.Blocked, why)
	}
	why := quota.PendingReason(a)
	if err := tx.Rewait(ctx, tenantID, quota.Blocked, quota.Pending, why); err != nil {
		return 0, "", err
	}
	for quota.Next(a, active) == quota.Admit {
		id, ok, err := tx.Head(ctx, tenantID, quota.Pending)
		if err != nil || !ok {
			return admitted, why, err
		}
		if err := tx.Request(ctx, id); err != nil {
			return admitted, why, err
		}
		admitted++
		// Recount: a run whose steps are all skipped ends at once.
		if active, err = tx.Active(ctx, tenantID); err != nil {
			return admitted, why, err
		}
	}
	return admitted, why, nil
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

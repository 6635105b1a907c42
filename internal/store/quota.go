package store

import (
	"context"
	"time"

	"github.com/runbookhq/runbook/internal/quota"
)

// Quotas is the admission side of the Store: plans, minutes and the queue
// of runs waiting for a slot or for minutes (docs/adr/0008-quotas.md).
type Quotas interface {
	// CreateAndAdmit stores a run like CreateRun and, in the same
	// transaction, applies engine.StepReused for nr.Reused, then admits the
	// tenant's queue: the oldest waiting run gets RunRequested while the
	// tenant has minutes and a free slot. The new run ends up admitted
	// (running), pending (waiting for a slot, FIFO by request time then id)
	// or blocked (no minutes left); Run.Admission and Run.Reason say which.
	CreateAndAdmit(ctx context.Context, nr NewRun) (Run, error)

	// PutPlan creates or replaces a plan, then admits the queues of the
	// tenants on it under its new limits at once, and gives their runs
	// still waiting reasons that quote the new limits. Tenants nobody
	// assigned a plan to are on quota.DefaultPlan.
	PutPlan(ctx context.Context, p quota.Plan) error
	// Plans lists the plans by name.
	Plans(ctx context.Context) ([]quota.Plan, error)
	// SetPlan moves a tenant to a plan, then admits its queue under the new
	// limits and rewrites the reasons of its runs still waiting. An unknown
	// tenant or plan fails with ErrNotFound.
	SetPlan(ctx context.Context, tenantID int64, plan string) error
	// GrantMinutes adds minutes to the tenant's current cycle, then admits
	// its queue and rewrites the reasons of its runs still waiting. minutes
	// must be positive (ErrInvalid).
	GrantMinutes(ctx context.Context, tenantID, minutes int64) error
	// AdmitWaiting rolls every tenant with waiting runs into its current
	// cycle and admits what its minutes and slots allow: blocked runs start
	// by themselves when a new cycle begins, and those that stay blocked
	// quote the new cycle's figures. It returns how many runs it
	// admitted. The scheduler calls it periodically.
	AdmitWaiting(ctx context.Context) (int, error)
	// Usage is the tenant's standing now. It only reads.
	Usage(ctx context.Context, tenantID int64) (Usage, error)
	// Usages is Usage for every tenant that has an account (for metrics),
	// without the queue.
	Usages(ctx context.Context) ([]Usage, error)
	// Ledger lists the tenant's charges, oldest first.
	Ledger(ctx context.Context, tenantID int64) ([]Charge, error)
}

// Usage is a tenant's quota standing.
type Usage struct {
	TenantID int64
	Account  quota.Account // rolled over to now
	CycleEnd time.Time
	Running  int // admitted runs that have not ended
	Pending  int
	Blocked  int
	Queue    []int64 // the pending runs, first in the queue first (at most QueueLimit)
}

// QueueLimit bounds Usage.Queue.
const QueueLimit = 100

// Charge is one ledger row: the minutes a step attempt cost.
type Charge struct {
	TenantID int64
	RunID    int64
	Step     string
	Attempt  int
	Minutes  int64
	At       time.Time
}

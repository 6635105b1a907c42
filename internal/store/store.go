// Package store is the durable home of tenants, runs, their event logs and
// the commands the engine decides. It holds the domain types and the Store
// contract; store/sqlite (the embedded default) and store/postgres implement
// it, and store/storetest is the one behavioural suite both must pass.
package store

import (
	"context"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/failure"
)

// Sentinel errors, kept here for the packages that name them through
// store; they live in package failure, which imports nothing.
var (
	ErrNotFound = failure.ErrNotFound
	ErrConflict = failure.ErrConflict
	ErrInvalid  = failure.ErrInvalid
	ErrRejected = failure.ErrRejected
)

// Store persists runs. Every method is safe for concurrent use, and every
// write is one transaction: a method that returns an error has written
// nothing. A database that goes away makes methods return errors (wrapping
// the driver's), never panic; after Close every method returns an error.
type Store interface {
	Quotas
	Workers

	// CreateTenant adds a tenant. A second tenant with the same name fails
	// with ErrConflict.
	CreateTenant(ctx context.Context, name string) (Tenant, error)

	// CreateRun parses nr.Source with workflow.Parse and stores the run as
	// queued, its steps waiting, with the exact bytes of its definition.
	// Each call creates a new run (it is not idempotent). A source that does
	// not parse fails with ErrInvalid wrapping the workflow.ErrorList; an
	// unknown tenant fails with ErrNotFound. The run starts when
	// engine.RunRequested is applied to it.
	CreateRun(ctx context.Context, nr NewRun) (Run, error)

	// Apply feeds one event to engine.Decide under the run's lock, and in
	// the same transaction appends it to the run's event log, updates the
	// run and step projections and enqueues the decided commands in the
	// outbox. It returns the new state and the commands. An event with a
	// zero Time gets the store's clock.
	//
	// An event Decide ignores (a duplicate, a stale attempt, anything after
	// the run ended) changes nothing and is not logged: applying the same
	// event twice is harmless. An event Decide rejects fails with
	// ErrRejected and writes nothing. An unknown run fails with ErrNotFound.
	// Apply checks no tenant: it is for the server's own drivers, which
	// authorize a person's request (cancel) with GetRun first.
	Apply(ctx context.Context, runID int64, e engine.Event) (engine.State, []engine.Command, error)

	// GetRun returns the run with its source and steps. Another tenant's
	// run fails with ErrNotFound.
	GetRun(ctx context.Context, tenantID, runID int64) (Run, error)

	// ListRuns returns the tenant's runs matching f, newest first, without
	// sources or steps. Pass the returned Next as p.Cursor for the next
	// page; Next is "" on the last page. Keyset pagination: runs created
	// meanwhile never shift a page. A malformed cursor fails with ErrInvalid.
	ListRuns(ctx context.Context, tenantID int64, f RunFilter, p Page) (RunPage, error)

	// Events returns the run's logged events with Seq > afterSeq, in order.
	// Another tenant's run fails with ErrNotFound.
	Events(ctx context.Context, tenantID, runID, afterSeq int64) ([]Event, error)

	// RunsInProgress returns every run that has not ended (queued or
	// running), oldest first, with steps but without sources, across all
	// tenants. A restarted server uses it to find the steps that were
	// running when it died and to apply engine.ExecutorLost to them.
	RunsInProgress(ctx context.Context) ([]Run, error)

	// ClaimCommands hands owner up to limit outbox commands that are
	// available (AvailableAt has passed), not done, and unclaimed or whose
	// lease has expired, oldest first. Each is claimed by owner until the
	// store's clock passes now+lease. A command is handed to one claimer at
	// a time and never again once completed; a command whose lease expires
	// is handed out again (at-least-once: consumers must be idempotent,
	// which engine attempts make them).
	ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]Command, error)

	// ExtendLease moves the lease of a command owner holds to now+lease.
	// It fails with ErrConflict when another owner has claimed it since (the
	// lease was lost: stop working on it), ErrNotFound when the command does
	// not exist or is already done.
	ExtendLease(ctx context.Context, id int64, owner string, lease time.Duration) error

	// CompleteCommand marks a command done, so it is never handed out
	// again. Completing a done command is a no-op. It fails with
	// ErrConflict when another owner has claimed it since, ErrNotFound when
	// it does not exist.
	CompleteCommand(ctx context.Context, id int64, owner string) error

	// Stats counts runs by status across all tenants, and the outbox
	// commands that are due and not done (the queue depth): what /metrics
	// shows. It reads only; calling it often costs a scan of the runs.
	Stats(ctx context.Context) (Stats, error)

	// Ping checks that the database answers a trivial query; /readyz
	// calls it, so it must stay cheap whatever the data's size.
	Ping(ctx context.Context) error

	// Migrate applies pending schema migrations. Open already calls it; it
	// is safe to call again and from several processes at once.
	Migrate(ctx context.Context) error

	// Close releases the connections. Calling it twice is harmless.
	Close() error
}

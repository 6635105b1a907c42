// Package sqlstore is the store's logic written once: applying events,
// admission and the queue of waiting runs, quotas, runs, accounts, tokens,
// tenants, GitHub installations and projects, workers. It runs over a
// Dialect, which store/sqlite and store/postgres implement with what really
// differs between the two databases (docs/adr/0016-one-sql-store.md).
//
// Queries are written once with $1, $2 … placeholders, which both pgx and
// modernc.org/sqlite bind by position. Times are passed as time.Time (the
// SQLite driver stores them as unix microseconds) and read back through
// Time, which accepts both encodings; JSON is passed as a string.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// Tx runs statements: an open transaction, or a pool for one statement.
type Tx interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	// QueryRow's Scan fails with an error that errors.Is sql.ErrNoRows
	// when there is no row (pgx.ErrNoRows is one).
	QueryRow(ctx context.Context, q string, args ...any) Row
	// Send runs the batch's statements in order: on Postgres in one round
	// trip, on SQLite one after the other in-process.
	Send(ctx context.Context, b *Batch) error
}

// Row is one result row.
type Row interface{ Scan(dest ...any) error }

// Rows is a result set; Close is safe to call twice.
type Rows interface {
	Row
	Next() bool
	Err() error
	Close()
}

// Batch is statements sent together. A statement's arguments are fixed
// when it is queued: it cannot use what an earlier one returns.
type Batch struct{ Items []Item }

// Item is one statement of a Batch; Scan, when set, reads its one row.
type Item struct {
	SQL  string
	Args []any
	Scan func(Row) error
}

// Queue adds a statement whose result is not read.
func (b *Batch) Queue(q string, args ...any) { b.Items = append(b.Items, Item{SQL: q, Args: args}) }

// QueueRow adds a statement whose one row scan reads.
func (b *Batch) QueueRow(scan func(Row) error, q string, args ...any) {
	b.Items = append(b.Items, Item{SQL: q, Args: args, Scan: scan})
}

// Violation is the kind of constraint an error broke.
type Violation int

// The violations the store maps to its errors.
const (
	NoViolation Violation = iota
	Unique                // a UNIQUE or PRIMARY KEY constraint
	ForeignKey
)

// Dialect is what differs between the databases. Each primitive that takes
// a Tx is one database round trip.
type Dialect interface {
	// Name prefixes error messages: "sqlite", "postgres".
	Name() string
	// Write runs fn in a read-write transaction (on SQLite, on the single
	// writer connection); Read in a read-only snapshot.
	Write(ctx context.Context, fn func(Tx) error) error
	Read(ctx context.Context, fn func(Tx) error) error
	// Reader runs single read statements outside a transaction; Writer
	// single write statements, each committed on its own.
	Reader() Tx
	Writer() Tx
	// Violated says which constraint err broke, and where: the constraint
	// as "table_column…", e.g. "users_email" (SQLite's message with the dot
	// turned into '_', Postgres's constraint name).
	Violated(err error) (Violation, string)

	// Hint is an index hint to put after a table name (SQLite's planner
	// needs some; Postgres has none).
	Hint(index string) string
	// IDs is a set of the int64s of the JSON array in parameter p, for IN.
	IDs(p string) string
	// Strings is the scan destination of a list-of-names column (a step's
	// depends_on: a JSON array on SQLite, text[] on Postgres).
	Strings(dst *[]string) any
	// Notify is a statement that wakes the outbox's claimers when the
	// transaction commits, "" where claimers are woken in-process.
	Notify() string
	// NotifyIf wraps an UPDATE so that it also wakes the claimers when it
	// changed a row, keeping its row count.
	NotifyIf(update string) string

	// LockRun reads the run's tenant, last sequence number and admission,
	// and locks it for the transaction (on Postgres the tenant's account
	// first, in the order every writer takes them).
	LockRun(ctx context.Context, tx Tx, runID int64, now time.Time) (RunLock, error)
	// InsertRun writes a new run, its steps, and points its forge link at
	// it. With ad Pending it also counts the run in its tenant's queue and
	// returns that queue as Fill wants it (on Postgres, all in one round
	// trip); otherwise the Queue is zero.
	InsertRun(ctx context.Context, tx Tx, p store.PreparedRun, vars string, now time.Time, ad quota.Admission) (int64, store.Queue, error)
	// Account is store.AdmitTx's Account: the account, created on first
	// use, locked on Postgres.
	Account(ctx context.Context, tx Tx, tenantID int64, now time.Time) (quota.Account, error)
	// Queue is store.AdmitTx's Queue.
	Queue(ctx context.Context, tx Tx, tenantID int64, now time.Time) (store.Queue, error)
	// ClaimFor is store.Workers' ClaimFor (claims differ the most:
	// FOR UPDATE SKIP LOCKED on Postgres, the single writer on SQLite).
	ClaimFor(ctx context.Context, cl store.Claim, now time.Time) ([]store.Command, time.Time, error)
}

// RunLock is what LockRun reads.
type RunLock struct {
	TenantID, LastSeq int64
	Admission         quota.Admission
}

// Store implements store.Store, account.Repo and githubapp.Repo over a
// Dialect. The drivers embed it.
type Store struct {
	d     Dialect
	now   func() time.Time
	cache *store.RunCache
}

// The drivers add Ping, Migrate and Close to make a store.Store.
var (
	_ account.Repo   = (*Store)(nil)
	_ githubapp.Repo = (*Store)(nil)
)

// New returns the store over d, with the shared options o (see
// store.ApplyOptions).
func New(d Dialect, o store.Options) *Store {
	return &Store{d: d, now: o.Now, cache: store.NewRunCache(o.CacheSize)}
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// errorf wraps err with the dialect's name and what was being done.
func (s *Store) errorf(err error, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", s.d.Name(), fmt.Sprintf(format, args...), err)
}

// notFound turns a missing row into store.ErrNotFound naming what.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// Time is a scan destination for a time column: NULL gives the zero time.
// It accepts unix microseconds (SQLite) and time.Time (Postgres).
func Time(t *time.Time) any { return timeDest{t} }

type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	case time.Time:
		*d.t = v.UTC()
	default:
		return fmt.Errorf("sqlstore: cannot read %T as a time", src)
	}
	return nil
}

// NullTime stores the zero time as NULL.
func NullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// collect reads every row of rows with scan.
func collect[T any](rows Rows, err error, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// one fails with store.ErrNotFound naming what when n rows changed is 0.
func one(n int64, err error, what string) error {
	if err == nil && n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlstore"
)

// OutboxChannel is the LISTEN/NOTIFY channel on which every transaction
// that enqueues a command available now (and every released command)
// notifies, after commit: claimers LISTEN on it instead of polling.
const OutboxChannel = "runbook_outbox"

// dialect is sqlstore.Dialect on Postgres: row locks serialize what must
// be, and batches send several statements in one round trip.
type dialect struct{ pool *pgxpool.Pool }

func (dialect) Name() string { return "postgres" }

func (d dialect) Write(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{}, func(tx pgx.Tx) error { return fn(conn{tx}) })
}

func (d dialect) Read(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(conn{tx}) })
}

func (d dialect) Reader() sqlstore.Tx { return conn{d.pool} }
func (d dialect) Writer() sqlstore.Tx { return conn{d.pool} }

func (dialect) Violated(err error) (sqlstore.Violation, string) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return sqlstore.NoViolation, ""
	}
	switch pe.Code {
	case "23505": // unique_violation
		return sqlstore.Unique, pe.ConstraintName
	case "23503": // foreign_key_violation
		return sqlstore.ForeignKey, pe.ConstraintName
	}
	return sqlstore.NoViolation, ""
}

func (dialect) Hint(string) string { return "" }

func (dialect) IDs(p string) string {
	return "(SELECT jsonb_array_elements_text(" + p + "::jsonb)::bigint)"
}

// Strings: depends_on is a text[], which pgx reads as it is.
func (dialect) Strings(dst *[]string) any { return dst }

func (dialect) Notify() string { return `SELECT pg_notify('` + OutboxChannel + `', '')` }

func (dialect) NotifyIf(update string) string {
	return `WITH r AS (` + update + ` RETURNING id) SELECT pg_notify('` + OutboxChannel + `', '') FROM r`
}

// LockRun takes the tenant's account row first, the run's second: every
// writer takes them in that order, so admissions never deadlock. Both
// locks in one round trip: a batch runs its statements in order.
func (dialect) LockRun(ctx context.Context, tx sqlstore.Tx, runID int64, now time.Time) (l sqlstore.RunLock, err error) {
	b := &sqlstore.Batch{}
	b.Queue(`WITH r AS (SELECT tenant_id FROM runs WHERE id = $1)
		INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt)
		SELECT tenant_id, $2, $3, 0, 0, 0 FROM r
		ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id`, runID, quota.DefaultPlan, now)
	b.QueueRow(func(row sqlstore.Row) error { return row.Scan(&l.TenantID, &l.LastSeq, &l.Admission) },
		`SELECT tenant_id, last_seq, admission FROM runs WHERE id = $1 FOR UPDATE`, runID)
	return l, tx.Send(ctx, b)
}

// InsertRun inserts the run and all its steps with one statement, which
// also points the run's forge link, if any, at it; a pending run reads its
// queue in the same batch: the account upsert counts it in the queue and
// locks the account, and its subqueries see the run inserted just before.
func (dialect) InsertRun(ctx context.Context, tx sqlstore.Tx, p store.PreparedRun, vars string, now time.Time, ad quota.Admission) (id int64, q store.Queue, err error) {
	names := make([]string, len(p.Steps))
	deps := make([]string, len(p.Steps))
	status := make([]string, len(p.Steps))
	for i, st := range p.Steps {
		names[i], status[i], deps[i] = st.Name, string(st.Status), "[]"
		if len(st.DependsOn) > 0 {
			js, _ := json.Marshal(st.DependsOn) // []string cannot fail to encode
			deps[i] = string(js)
		}
	}
	b := &sqlstore.Batch{}
	// A two-dimensional array cannot hold lists of different lengths, so
	// each step's depends_on travels as JSON and is unpacked in SQL.
	b.QueueRow(func(row sqlstore.Row) error {
		var linked int
		if err := row.Scan(&id, &linked); err != nil {
			return err
		}
		if p.LinkKey != "" && linked == 0 {
			return fmt.Errorf("%w: forge link %q of the new run", store.ErrNotFound, p.LinkKey)
		}
		return nil
	}, `WITH r AS (
			INSERT INTO runs (tenant_id, project_id, file, source, vars, branch, trigger,
				status, reason, requested_at, created_at, state, last_seq, admission)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', $9, $10, $11, 0, $12) RETURNING id),
		s AS (
			INSERT INTO steps (run_id, idx, name, depends_on, status, attempt, reason)
			SELECT r.id, t.ord - 1, t.name,
				ARRAY(SELECT jsonb_array_elements_text(t.deps)), t.status, 0, ''
			FROM r, unnest($13::text[], $14::jsonb[], $15::text[]) WITH ORDINALITY AS t(name, deps, status, ord)),
		l AS (UPDATE github_runs SET run_id = r.id FROM r WHERE key = $16 RETURNING 1)
		SELECT id, (SELECT count(*) FROM l) FROM r`,
		p.TenantID, nullID(p.ProjectID), p.File, p.Source, vars, p.Vars.Branch, p.Trigger,
		engine.RunQueued, p.RequestedAt.UTC().Truncate(time.Microsecond), now, string(p.StateJSON), ad,
		names, deps, status, p.LinkKey)
	if ad == quota.Pending {
		queueQueue(b, p.TenantID, now, 1, &q)
	}
	return id, q, tx.Send(ctx, b)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// Account is one round trip on the way from a trigger to its first step:
// the upsert creates the account on first use and, by updating the row
// when it exists, locks it for the rest of the transaction. Only the
// account row is locked: locking the joined plan row too would serialize
// every tenant on the same plan.
func (dialect) Account(ctx context.Context, tx sqlstore.Tx, tenantID int64, now time.Time) (a quota.Account, err error) {
	err = sqlstore.ScanAccount(tx.QueryRow(ctx, `WITH a AS (
			INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt)
			VALUES ($1, $2, $3, 0, 0, 0)
			ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
			RETURNING plan, cycle_start, used, granted, debt)
		SELECT `+sqlstore.AccountCols+` FROM a JOIN plans p ON p.name = a.plan`, tenantID, quota.DefaultPlan, now), &a)
	return a, err
}

func (dialect) Queue(ctx context.Context, tx sqlstore.Tx, tenantID int64, now time.Time) (q store.Queue, err error) {
	b := &sqlstore.Batch{}
	queueQueue(b, tenantID, now, 0, &q)
	return q, tx.Send(ctx, b)
}

// queueQueue reads the tenant's store.Queue into q, and adds join to its
// queue length (1 for a run just inserted as pending). The account upsert
// creates the account on first use and, by updating the row, locks it
// before any run of the tenant (lock order). Only the account row is
// locked: locking the plan row too would serialize every tenant on the
// same plan.
//
// The queue is read by a second statement: a statement's snapshot is taken
// when it starts, so subqueries of the upsert, which may wait for the lock,
// would miss what the lock's previous holder committed. The admissions are
// literals so that the planner can prove the partial index runs_waiting
// covers the subqueries.
func queueQueue(b *sqlstore.Batch, tenantID int64, now time.Time, join int, q *store.Queue) {
	b.QueueRow(func(row sqlstore.Row) error { return sqlstore.ScanAccount(row, &q.Account) }, `WITH a AS (
			INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt, pending)
			VALUES ($1, $2, $3, 0, 0, 0, $4)
			ON CONFLICT (tenant_id) DO UPDATE SET pending = quota_accounts.pending + EXCLUDED.pending
			RETURNING plan, cycle_start, used, granted, debt)
		SELECT `+sqlstore.AccountCols+` FROM a JOIN plans p ON p.name = a.plan`, tenantID, quota.DefaultPlan, now, join)
	b.QueueRow(func(row sqlstore.Row) error {
		var heads []int64
		err := row.Scan(&q.Active, &heads, &q.Blocked)
		copy(q.Heads[:], heads)
		return err
	}, `SELECT (SELECT count(*) FROM runs WHERE tenant_id = $1 AND admission = 'admitted' AND status IN ('queued', 'running')),
			ARRAY(SELECT id FROM runs WHERE tenant_id = $1 AND admission = 'pending' AND status = 'queued'
				ORDER BY requested_at, id LIMIT 2),
			EXISTS (SELECT 1 FROM runs WHERE tenant_id = $1 AND admission = 'blocked' AND status = 'queued')`, tenantID)
}

// ClaimFor: FOR UPDATE SKIP LOCKED lets claimers on several processes pass
// over the rows another claimer is taking, and the label and cancel
// routing filters run in the same query.
func (d dialect) ClaimFor(ctx context.Context, cl store.Claim, now time.Time) ([]store.Command, time.Time, error) {
	labels, err := sqlstore.JSONLabels(cl.Labels)
	if err != nil {
		return nil, time.Time{}, err
	}
	// A claim does not wait for its WAL flush: losing one in a database
	// crash only leaves the command unclaimed, which the lease already
	// allows for, and a second claimer of a started attempt finds it
	// started by someone else and leaves it. This saves a disk flush on
	// the way from a trigger to its first step.
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The setting, the claim and the next wake-up in one round trip. The
	// wake-up is read with the claim's now, in its transaction: what was
	// claimable then is taken, so nothing falls between the two; it is
	// only used when the claim was not full.
	var cmds []store.Command
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL synchronous_commit = off`)
	// SET reads the row as it was: prev_owner becomes whoever held the
	// lease that expired (or released it).
	// cand takes (and locks) the claimable rows in order; picked keeps at
	// most MaxStarts of its start_steps. Excess ones are unlocked at
	// commit, a round trip later.
	b.Queue(`WITH cand AS (
			SELECT o.id, o.kind, o.available_at FROM outbox o
			WHERE o.done_at IS NULL AND o.available_at <= $3 AND (o.lease_until IS NULL OR o.lease_until <= $3)
				AND (o.labels IS NULL OR o.labels <@ $5::jsonb)
				AND NOT ($6 AND o.kind IN ('start_step', 'cancel_step'))
				AND NOT ($7 < 0 AND o.kind = 'start_step')
				AND (o.kind <> 'cancel_step' OR NOT EXISTS (
					SELECT 1 FROM outbox h WHERE h.run_id = o.run_id AND h.step = o.step AND h.attempt = o.attempt
						AND h.kind = 'start_step' AND h.done_at IS NULL
						AND h.claimed_by <> $1 AND h.lease_until > $3))
			ORDER BY o.available_at, o.id LIMIT $4
			FOR UPDATE OF o SKIP LOCKED),
		picked AS (
			SELECT id FROM (SELECT id, kind, row_number() OVER (PARTITION BY kind = 'start_step' ORDER BY available_at, id) AS n FROM cand) c
			WHERE $7 <= 0 OR kind <> 'start_step' OR n <= $7)
		UPDATE outbox o SET prev_owner = COALESCE(o.claimed_by, o.prev_owner), claimed_by = $1, lease_until = $2, claims = o.claims + 1
		FROM picked WHERE o.id = picked.id
		RETURNING o.`+sqlstore.CommandCols, // picked has only id: the rest is o's
		cl.Owner, now.Add(cl.Lease), now, cl.Limit, labels, cl.NoSteps, cl.MaxStarts).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				c, err := sqlstore.ScanCommand(rows)
				if err != nil {
					return err
				}
				cmds = append(cmds, c)
			}
			return rows.Err()
		})
	// The earliest time after now at which a command cl could take becomes
	// claimable. Commands cl holds are left out (it renews them), and so
	// are those claimable at now, which the claim took or another claimer
	// is taking. A cancel_step routed to a live owner becomes claimable
	// with that owner's start_step lease, counted on its own.
	var next time.Time
	b.Queue(`SELECT min(GREATEST(o.available_at, o.lease_until)) FROM outbox o
		WHERE o.done_at IS NULL AND o.claimed_by IS DISTINCT FROM $1
			AND GREATEST(o.available_at, o.lease_until) > $2
			AND (o.labels IS NULL OR o.labels <@ $3::jsonb)
			AND NOT ($4 AND o.kind IN ('start_step', 'cancel_step'))`, cl.Owner, now, labels, cl.NoSteps).
		QueryRow(func(row pgx.Row) error { return row.Scan(sqlstore.Time(&next)) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, time.Time{}, err
	}
	if len(cmds) == cl.Limit {
		next = time.Time{}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, time.Time{}, err
	}
	slices.SortFunc(cmds, store.CompareCommands) // RETURNING has no defined order
	return cmds, next, nil
}

// conn is sqlstore.Tx over a pgx transaction or the pool.
type conn struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	}
}

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return c.q.Query(ctx, q, args...)
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return c.q.QueryRow(ctx, q, args...)
}

// Send pipelines the batch: one round trip.
func (c conn) Send(ctx context.Context, sb *sqlstore.Batch) error {
	b := &pgx.Batch{}
	for _, it := range sb.Items {
		qq := b.Queue(it.SQL, it.Args...)
		if scan := it.Scan; scan != nil {
			qq.QueryRow(func(row pgx.Row) error { return scan(row) })
		}
	}
	return c.q.SendBatch(ctx, b).Close()
}

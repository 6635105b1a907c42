package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateAndAdmit implements store.Store.
func (s *Store) CreateAndAdmit(ctx context.Context, nr store.NewRun) (store.Run, error) {
	now := s.now().UTC()
	p, err := store.Prepare(nr, now)
	if err != nil {
		return store.Run{}, err
	}
	vars, err := json.Marshal(p.Vars)
	if err != nil {
		return store.Run{}, fmt.Errorf("postgres: encoding run vars: %w", err)
	}
	var id int64
	err = s.tx(ctx, func(tx pgx.Tx) error {
		// The run, its steps and the tenant's line in one round trip: the
		// account upsert counts the run in the line and locks the account;
		// its subqueries see the run inserted just before.
		b := &pgx.Batch{}
		queueInsertRun(b, p, vars, now, quota.Pending, &id)
		var l store.Queue
		queueLine(b, p.TenantID, now, 1, &l)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		s.cache.Put(id, 0, p.Workflow, p.State, p.StateJSON)
		for _, step := range nr.Reused {
			if _, err := s.applyIn(ctx, tx, id, engine.Event{Kind: engine.StepReused, Step: step, Reason: nr.ReusedReason}, false); err != nil {
				return fmt.Errorf("reusing step %q: %w", step, err)
			}
		}
		admitted, why, err := store.FillQueue(ctx, admitTx{s, tx}, p.TenantID, now, l)
		if err != nil || slices.Contains(admitted, id) {
			return err
		}
		// Fill set the reason of runs it moved; a new run still waiting needs its own.
		_, err = tx.Exec(ctx, `UPDATE runs SET reason = $1 WHERE id = $2 AND admission = 'pending'`, why, id)
		return err
	})
	if err != nil {
		return store.Run{}, createErr(err, nr)
	}
	if nr.Committed != nil {
		nr.Committed()
	}
	return s.getRun(ctx, p.TenantID, id, tailPosition)
}

// admitTx is store.AdmitTx over the writer's transaction.
type admitTx struct {
	s  *Store
	tx pgx.Tx
}

func (q admitTx) Account(ctx context.Context, tenantID int64, now time.Time) (quota.Account, error) {
	// One round trip on the way from a trigger to its first step: the
	// upsert creates the account on first use and, by updating the row when
	// it exists, locks it for the rest of the transaction. Only the account
	// row is locked: locking the joined plan row too would serialize every
	// tenant on the same plan.
	var a quota.Account
	var start time.Time
	err := q.tx.QueryRow(ctx, `WITH a AS (
			INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt)
			VALUES ($1, $2, $3, 0, 0, 0)
			ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
			RETURNING plan, cycle_start, used, granted, debt)
		SELECT p.name, p.minutes, p.max_concurrent, a.cycle_start, a.used, a.granted, a.debt
		FROM a JOIN plans p ON p.name = a.plan`, tenantID, quota.DefaultPlan, now).
		Scan(&a.Plan.Name, &a.Plan.Minutes, &a.Plan.MaxConcurrent, &start, &a.Used, &a.Granted, &a.Debt)
	a.CycleStart = start.UTC()
	return a, err
}

func readAccount(ctx context.Context, tx pgx.Tx, tenantID int64) (quota.Account, error) {
	var a quota.Account
	var start time.Time
	err := tx.QueryRow(ctx, `SELECT p.name, p.minutes, p.max_concurrent, a.cycle_start, a.used, a.granted, a.debt
		FROM quota_accounts a JOIN plans p ON p.name = a.plan WHERE a.tenant_id = $1`, tenantID).
		Scan(&a.Plan.Name, &a.Plan.Minutes, &a.Plan.MaxConcurrent, &start, &a.Used, &a.Granted, &a.Debt)
	a.CycleStart = start.UTC()
	return a, err
}

func (q admitTx) SaveAccount(ctx context.Context, tenantID int64, a quota.Account) error {
	_, err := q.tx.Exec(ctx, `UPDATE quota_accounts SET cycle_start = $1, used = $2, granted = $3, debt = $4 WHERE tenant_id = $5`,
		a.CycleStart, a.Used, a.Granted, a.Debt, tenantID)
	return err
}

func (q admitTx) Head(ctx context.Context, tenantID int64, ad quota.Admission) (int64, bool, error) {
	var id int64
	// The admission is spelled out, not bound: only a literal lets the
	// planner prove the partial index runs_waiting covers the query, which
	// keeps the head of a 10,000-run line one index seek.
	err := q.tx.QueryRow(ctx, `SELECT id FROM runs WHERE tenant_id = $1 AND admission = '`+literal(ad)+`' AND status = 'queued'
		ORDER BY requested_at, id LIMIT 1`, tenantID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

func (q admitTx) Rewait(ctx context.Context, tenantID int64, from, to quota.Admission, reason string) error {
	tag, err := q.tx.Exec(ctx, `UPDATE runs SET admission = $1, reason = $2
		WHERE tenant_id = $3 AND admission = '`+literal(from)+`' AND status = 'queued'`, to, reason, tenantID)
	if err != nil {
		return err
	}
	n := tag.RowsAffected()
	if n == 0 {
		return nil
	}
	if from == quota.Pending {
		n = -n
	}
	return q.addPending(ctx, tenantID, n)
}

func (q admitTx) Queue(ctx context.Context, tenantID int64, now time.Time) (store.Queue, error) {
	b := &pgx.Batch{}
	var l store.Queue
	queueLine(b, tenantID, now, 0, &l)
	return l, q.tx.SendBatch(ctx, b).Close()
}

// queueLine reads the tenant's store.Queue into l, and adds join to its line
// length (1 for a run just inserted as pending). The account upsert creates
// the account on first use and, by updating the row, locks it before any
// run of the tenant (lock order). Only the account row is locked: locking
// the plan row too would serialize every tenant on the same plan.
//
// The line is read by a second statement: a statement's snapshot is taken
// when it starts, so subqueries of the upsert, which may wait for the lock,
// would miss what the lock's previous holder committed. The admissions are
// literals so that the planner can prove the partial index runs_waiting
// covers the subqueries.
func queueLine(b *pgx.Batch, tenantID int64, now time.Time, join int, l *store.Queue) {
	b.Queue(`WITH a AS (
			INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt, pending)
			VALUES ($1, $2, $3, 0, 0, 0, $4)
			ON CONFLICT (tenant_id) DO UPDATE SET pending = quota_accounts.pending + EXCLUDED.pending
			RETURNING plan, cycle_start, used, granted, debt)
		SELECT p.name, p.minutes, p.max_concurrent, a.cycle_start, a.used, a.granted, a.debt
		FROM a JOIN plans p ON p.name = a.plan`, tenantID, quota.DefaultPlan, now, join).
		QueryRow(func(row pgx.Row) error {
			var start time.Time
			a := &l.Account
			err := row.Scan(&a.Plan.Name, &a.Plan.Minutes, &a.Plan.MaxConcurrent, &start, &a.Used, &a.Granted, &a.Debt)
			a.CycleStart = start.UTC()
			return err
		})
	b.Queue(`SELECT (SELECT count(*) FROM runs WHERE tenant_id = $1 AND admission = 'admitted' AND status IN ('queued', 'running')),
			ARRAY(SELECT id FROM runs WHERE tenant_id = $1 AND admission = 'pending' AND status = 'queued'
				ORDER BY requested_at, id LIMIT 2),
			EXISTS (SELECT 1 FROM runs WHERE tenant_id = $1 AND admission = 'blocked' AND status = 'queued')`, tenantID).
		QueryRow(func(row pgx.Row) error {
			var heads []int64
			err := row.Scan(&l.Active, &heads, &l.Blocked)
			copy(l.Heads[:], heads)
			return err
		})
}

// addPending adds n to the tenant's line length.
func (q admitTx) addPending(ctx context.Context, tenantID, n int64) error {
	_, err := q.tx.Exec(ctx, `UPDATE quota_accounts SET pending = pending + $1 WHERE tenant_id = $2`, n, tenantID)
	return err
}

// literal checks that ad is one of the waiting admissions before it is
// written into SQL.
func literal(ad quota.Admission) string {
	if ad != quota.Pending && ad != quota.Blocked {
		panic(fmt.Sprintf("store: %q is not a waiting admission", ad))
	}
	return string(ad)
}

func (q admitTx) Request(ctx context.Context, runID int64) (bool, error) {
	var tenantID, lastSeq int64
	b := &pgx.Batch{}
	// The run leaves the line (Fill passes the pending head)...
	b.Queue(`UPDATE quota_accounts SET pending = pending - 1
		WHERE tenant_id = (SELECT tenant_id FROM runs WHERE id = $1 AND admission = 'pending' AND status = 'queued')`, runID)
	// ...and is admitted; the update locks it as applyIn would.
	b.Queue(`UPDATE runs SET admission = 'admitted' WHERE id = $1 RETURNING tenant_id, last_seq`, runID).
		QueryRow(func(row pgx.Row) error { return row.Scan(&tenantID, &lastSeq) })
	if err := q.tx.SendBatch(ctx, b).Close(); err != nil {
		return false, err
	}
	tr, err := q.s.applyLocked(ctx, q.tx, runID, tenantID, lastSeq, quota.Admitted, engine.Event{Kind: engine.RunRequested}, true)
	return tr.State.Status.Terminal(), err
}

// charge books cs to the tenant's current cycle and ledger.
func (q admitTx) charge(ctx context.Context, tenantID, runID int64, cs []store.Charge, now time.Time) error {
	if len(cs) == 0 {
		return nil
	}
	a, err := store.LoadAccount(ctx, q, tenantID, now)
	if err != nil {
		return err
	}
	for _, c := range cs {
		a.Used += c.Minutes
		if _, err := q.tx.Exec(ctx, `INSERT INTO quota_ledger (tenant_id, run_id, step, attempt, minutes, at)
			VALUES ($1, $2, $3, $4, $5, $6)`, tenantID, runID, c.Step, c.Attempt, c.Minutes, c.At); err != nil {
			return err
		}
	}
	return q.SaveAccount(ctx, tenantID, a)
}

// position is a pending run's place in its tenant's line, 1 first.
func position(ctx context.Context, tx pgx.Tx, r store.Run) (int, error) {
	if r.Admission != quota.Pending || r.Status != engine.RunQueued {
		return 0, nil
	}
	var n int
	req := r.RequestedAt
	// A row value, not an OR: it bounds the index range, so the count reads
	// only the runs ahead (the head of a long line is one seek).
	err := tx.QueryRow(ctx, `SELECT count(*) FROM runs WHERE tenant_id = $1 AND admission = 'pending' AND status = 'queued'
		AND (requested_at, id) <= ($2, $3)`, r.TenantID, req, r.ID).Scan(&n)
	return n, err
}

// tailPosition is position for a run that is most likely the tail of its
// line (one just requested): when the last pending run by (requested_at, id)
// is r, its place is the line's length, read from the account with one
// backward index seek instead of counting the whole line. Otherwise (r was
// requested with an earlier time, or others joined since) it counts.
func tailPosition(ctx context.Context, tx pgx.Tx, r store.Run) (int, error) {
	if r.Admission != quota.Pending || r.Status != engine.RunQueued {
		return 0, nil
	}
	var n int
	var tail int64
	err := tx.QueryRow(ctx, `SELECT a.pending, coalesce((SELECT id FROM runs
			WHERE tenant_id = $1 AND admission = 'pending' AND status = 'queued'
			ORDER BY requested_at DESC, id DESC LIMIT 1), 0)
		FROM quota_accounts a WHERE a.tenant_id = $1`, r.TenantID).Scan(&n, &tail)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	if err != nil || tail != r.ID {
		return position(ctx, tx, r)
	}
	return n, nil
}

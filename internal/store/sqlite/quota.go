package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
		return store.Run{}, fmt.Errorf("sqlite: encoding run vars: %w", err)
	}
	var id int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		if id, err = s.insertRun(ctx, tx, p, vars, now, quota.Pending); err != nil {
			return err
		}
		if err := (admitTx{s, tx}).join(ctx, p.TenantID, now); err != nil {
			return err
		}
		s.cache.Put(id, 0, p.Workflow, p.State, p.StateJSON)
		for _, step := range nr.Reused {
			if _, err := s.applyIn(ctx, tx, id, engine.Event{Kind: engine.StepReused, Step: step, Reason: nr.ReusedReason}, false); err != nil {
				return fmt.Errorf("reusing step %q: %w", step, err)
			}
		}
		_, why, err := store.Fill(ctx, admitTx{s, tx}, p.TenantID, now)
		if err != nil {
			return err
		}
		// Fill set the reason of runs it moved; a new run still waiting needs its own.
		_, err = tx.ExecContext(ctx, `UPDATE runs SET reason = ? WHERE id = ? AND admission = 'pending'`, why, id)
		return err
	})
	if err != nil {
		return store.Run{}, s.createErr(err, nr)
	}
	if nr.Committed != nil {
		nr.Committed()
	}
	return s.getRun(ctx, p.TenantID, id, tailPosition)
}

// admitTx is store.AdmitTx over the writer's transaction.
type admitTx struct {
	s  *Store
	tx *sql.Tx
}

func (q admitTx) Account(ctx context.Context, tenantID int64, now time.Time) (quota.Account, error) {
	if _, err := q.tx.ExecContext(ctx, `INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt)
		VALUES (?, ?, ?, 0, 0, 0) ON CONFLICT (tenant_id) DO NOTHING`, tenantID, quota.DefaultPlan, now.UnixMicro()); err != nil {
		return quota.Account{}, err
	}
	return readAccount(ctx, q.tx, tenantID)
}

func readAccount(ctx context.Context, tx *sql.Tx, tenantID int64) (quota.Account, error) {
	var a quota.Account
	var start int64
	err := tx.QueryRowContext(ctx, `SELECT p.name, p.minutes, p.max_concurrent, a.cycle_start, a.used, a.granted, a.debt
		FROM quota_accounts a JOIN plans p ON p.name = a.plan WHERE a.tenant_id = ?`, tenantID).
		Scan(&a.Plan.Name, &a.Plan.Minutes, &a.Plan.MaxConcurrent, &start, &a.Used, &a.Granted, &a.Debt)
	a.CycleStart = time.UnixMicro(start).UTC()
	return a, err
}

func (q admitTx) SaveAccount(ctx context.Context, tenantID int64, a quota.Account) error {
	_, err := q.tx.ExecContext(ctx, `UPDATE quota_accounts SET cycle_start = ?, used = ?, granted = ?, debt = ? WHERE tenant_id = ?`,
		a.CycleStart.UnixMicro(), a.Used, a.Granted, a.Debt, tenantID)
	return err
}

func (q admitTx) Queue(ctx context.Context, tenantID int64, now time.Time) (l store.Queue, err error) {
	if l.Account, err = q.Account(ctx, tenantID, now); err != nil {
		return l, err
	}
	err = q.tx.QueryRowContext(ctx, `SELECT count(*) FROM runs INDEXED BY runs_active
		WHERE tenant_id = ? AND admission = 'admitted' AND status IN ('queued', 'running')`, tenantID).Scan(&l.Active)
	if err != nil {
		return l, err
	}
	rows, err := q.tx.QueryContext(ctx, `SELECT id FROM runs INDEXED BY runs_waiting WHERE tenant_id = ? AND admission = 'pending' AND status = 'queued'
		ORDER BY requested_at, id LIMIT 2`, tenantID)
	if err != nil {
		return l, err
	}
	for i := 0; rows.Next(); i++ {
		if err := rows.Scan(&l.Heads[i]); err != nil {
			rows.Close()
			return l, err
		}
	}
	if err := rows.Close(); err != nil {
		return l, err
	}
	_, blocked, err := q.Head(ctx, tenantID, quota.Blocked)
	l.Blocked = blocked
	return l, err
}

func (q admitTx) Head(ctx context.Context, tenantID int64, ad quota.Admission) (int64, bool, error) {
	var id int64
	// The admission is spelled out, not bound: only a literal lets the
	// planner prove the partial index runs_waiting covers the query, which
	// keeps the head of a 10,000-run line one index seek.
	err := q.tx.QueryRowContext(ctx, `SELECT id FROM runs INDEXED BY runs_waiting WHERE tenant_id = ? AND admission = '`+literal(ad)+`' AND status = 'queued'
		ORDER BY requested_at, id LIMIT 1`, tenantID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

func (q admitTx) Rewait(ctx context.Context, tenantID int64, from, to quota.Admission, reason string) error {
	res, err := q.tx.ExecContext(ctx, `UPDATE runs INDEXED BY runs_waiting SET admission = ?, reason = ?
		WHERE tenant_id = ? AND admission = '`+literal(from)+`' AND status = 'queued'`, to, reason, tenantID)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return err
	}
	if from == quota.Pending {
		n = -n
	}
	return q.addPending(ctx, tenantID, n)
}

// join counts a run just inserted as pending in its tenant's line length
// (quota_accounts.pending), creating the account on first use.
func (q admitTx) join(ctx context.Context, tenantID int64, now time.Time) error {
	_, err := q.tx.ExecContext(ctx, `INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt, pending)
		VALUES (?, ?, ?, 0, 0, 0, 1) ON CONFLICT (tenant_id) DO UPDATE SET pending = pending + 1`, tenantID, quota.DefaultPlan, now.UnixMicro())
	return err
}

// addPending adds n to the tenant's line length.
func (q admitTx) addPending(ctx context.Context, tenantID, n int64) error {
	_, err := q.tx.ExecContext(ctx, `UPDATE quota_accounts SET pending = pending + ? WHERE tenant_id = ?`, n, tenantID)
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
	// The run leaves the line (Fill passes the pending head).
	if _, err := q.tx.ExecContext(ctx, `UPDATE quota_accounts SET pending = pending - 1
		WHERE tenant_id = (SELECT tenant_id FROM runs WHERE id = ? AND admission = 'pending' AND status = 'queued')`, runID); err != nil {
		return false, err
	}
	if _, err := q.tx.ExecContext(ctx, `UPDATE runs SET admission = 'admitted' WHERE id = ?`, runID); err != nil {
		return false, err
	}
	tr, err := q.s.applyIn(ctx, q.tx, runID, engine.Event{Kind: engine.RunRequested}, true)
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
		if _, err := q.tx.ExecContext(ctx, `INSERT INTO quota_ledger (tenant_id, run_id, step, attempt, minutes, at)
			VALUES (?, ?, ?, ?, ?, ?)`, tenantID, runID, c.Step, c.Attempt, c.Minutes, c.At.UnixMicro()); err != nil {
			return err
		}
	}
	return q.SaveAccount(ctx, tenantID, a)
}

// position is a pending run's place in its tenant's line, 1 first.
func position(ctx context.Context, tx *sql.Tx, r store.Run) (int, error) {
	if r.Admission != quota.Pending || r.Status != engine.RunQueued {
		return 0, nil
	}
	var n int
	req := r.RequestedAt.UnixMicro()
	// A row value, not an OR: it bounds the index range, so the count reads
	// only the runs ahead (the head of a long line is one seek).
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs INDEXED BY runs_waiting WHERE tenant_id = ? AND admission = 'pending' AND status = 'queued'
		AND (requested_at, id) <= (?, ?)`, r.TenantID, req, r.ID).Scan(&n)
	return n, err
}

// tailPosition is position for a run that is most likely the tail of its
// line (one just requested): when the last pending run by (requested_at, id)
// is r, its place is the line's length, read from the account with one
// backward index seek instead of counting the whole line. Otherwise (r was
// requested with an earlier time, or others joined since) it counts.
func tailPosition(ctx context.Context, tx *sql.Tx, r store.Run) (int, error) {
	if r.Admission != quota.Pending || r.Status != engine.RunQueued {
		return 0, nil
	}
	var n int
	var tail int64
	err := tx.QueryRowContext(ctx, `SELECT a.pending, coalesce((SELECT id FROM runs INDEXED BY runs_waiting
			WHERE tenant_id = ?1 AND admission = 'pending' AND status = 'queued'
			ORDER BY requested_at DESC, id DESC LIMIT 1), 0)
		FROM quota_accounts a WHERE a.tenant_id = ?1`, r.TenantID).Scan(&n, &tail)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if err != nil || tail != r.ID {
		return position(ctx, tx, r)
	}
	return n, nil
}

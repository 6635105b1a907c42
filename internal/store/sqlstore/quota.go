package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateAndAdmit implements store.Store.
func (s *Store) CreateAndAdmit(ctx context.Context, nr store.NewRun) (store.Run, error) {
	now := s.now()
	p, vars, err := s.prepare(nr, now)
	if err != nil {
		return store.Run{}, err
	}
	var id int64
	err = s.d.Write(ctx, func(tx Tx) error {
		// The run, its steps and the tenant's queue (one round trip on
		// Postgres): the run is counted in the queue, the account locked.
		var q store.Queue
		if id, q, err = s.d.InsertRun(ctx, tx, p, vars, now, quota.Pending); err != nil {
			return err
		}
		s.cache.Put(id, 0, p.Workflow, p.State, p.StateJSON)
		for _, step := range nr.Reused {
			if _, err := s.applyIn(ctx, tx, id, engine.Event{Kind: engine.StepReused, Step: step, Reason: nr.ReusedReason}, false); err != nil {
				return fmt.Errorf("reusing step %q: %w", step, err)
			}
		}
		admitted, why, err := store.FillQueue(ctx, admitTx{s, tx}, p.TenantID, now, q)
		if err != nil || slices.Contains(admitted, id) {
			return err
		}
		// Fill set the reason of runs it moved; a new run still waiting needs its own.
		_, err = tx.Exec(ctx, `UPDATE runs SET reason = $1 WHERE id = $2 AND admission = 'pending'`, why, id)
		return err
	})
	if err != nil {
		return store.Run{}, s.createErr(err, nr)
	}
	if nr.Committed != nil {
		nr.Committed()
	}
	return s.getRun(ctx, p.TenantID, id, s.tailPosition)
}

// admitTx is store.AdmitTx over a write transaction.
type admitTx struct {
	s  *Store
	tx Tx
}

func (q admitTx) Account(ctx context.Context, tenantID int64, now time.Time) (quota.Account, error) {
	return q.s.d.Account(ctx, q.tx, tenantID, now)
}

func (q admitTx) Queue(ctx context.Context, tenantID int64, now time.Time) (store.Queue, error) {
	return q.s.d.Queue(ctx, q.tx, tenantID, now)
}

// AccountCols are what ScanAccount reads, from plans p and quota_accounts a.
const AccountCols = `p.name, p.minutes, p.max_concurrent, a.cycle_start, a.used, a.granted, a.debt`

// ScanAccount reads AccountCols, then extra.
func ScanAccount(row Row, a *quota.Account, extra ...any) error {
	return row.Scan(append([]any{&a.Plan.Name, &a.Plan.Minutes, &a.Plan.MaxConcurrent, Time(&a.CycleStart), &a.Used, &a.Granted, &a.Debt}, extra...)...)
}

// ReadAccount reads the tenant's account as stored.
func ReadAccount(ctx context.Context, tx Tx, tenantID int64) (a quota.Account, err error) {
	err = ScanAccount(tx.QueryRow(ctx, `SELECT `+AccountCols+` FROM quota_accounts a JOIN plans p ON p.name = a.plan
		WHERE a.tenant_id = $1`, tenantID), &a)
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
	// keeps the head of a 10,000-run queue one index seek.
	err := q.tx.QueryRow(ctx, `SELECT id FROM runs`+q.s.d.Hint("runs_waiting")+` WHERE tenant_id = $1 AND admission = '`+Literal(ad)+`'
		AND status = 'queued' ORDER BY requested_at, id LIMIT 1`, tenantID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

func (q admitTx) Rewait(ctx context.Context, tenantID int64, from, to quota.Admission, reason string) error {
	n, err := q.tx.Exec(ctx, `UPDATE runs`+q.s.d.Hint("runs_waiting")+` SET admission = $1, reason = $2
		WHERE tenant_id = $3 AND admission = '`+Literal(from)+`' AND status = 'queued'
			AND (admission <> $1 OR reason <> $2)`, to, reason, tenantID)
	if err != nil || n == 0 || from == to {
		return err
	}
	if from == quota.Pending {
		n = -n
	}
	return q.addPending(ctx, tenantID, n)
}

// addPending adds n to the tenant's queue length (quota_accounts.pending).
func (q admitTx) addPending(ctx context.Context, tenantID, n int64) error {
	_, err := q.tx.Exec(ctx, `UPDATE quota_accounts SET pending = pending + $1 WHERE tenant_id = $2`, n, tenantID)
	return err
}

// Literal checks that ad is one of the waiting admissions before it is
// written into SQL.
func Literal(ad quota.Admission) string {
	if ad != quota.Pending && ad != quota.Blocked {
		panic(fmt.Sprintf("store: %q is not a waiting admission", ad))
	}
	return string(ad)
}

func (q admitTx) Request(ctx context.Context, runID int64) (bool, error) {
	lk := RunLock{Admission: quota.Admitted}
	b := &Batch{}
	// The run leaves the queue (Fill passes the pending head)...
	b.Queue(`UPDATE quota_accounts SET pending = pending - 1
		WHERE tenant_id = (SELECT tenant_id FROM runs WHERE id = $1 AND admission = 'pending' AND status = 'queued')`, runID)
	// ...and is admitted; the update locks it as LockRun would.
	b.QueueRow(func(row Row) error { return row.Scan(&lk.TenantID, &lk.LastSeq) },
		`UPDATE runs SET admission = 'admitted' WHERE id = $1 RETURNING tenant_id, last_seq`, runID)
	if err := q.tx.Send(ctx, b); err != nil {
		return false, err
	}
	tr, err := q.s.applyLocked(ctx, q.tx, runID, lk, engine.Event{Kind: engine.RunRequested}, true)
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

// position is a pending run's place in its tenant's queue, 1 first.
func (s *Store) position(ctx context.Context, tx Tx, r store.Run) (int, error) {
	if r.Admission != quota.Pending || r.Status != engine.RunQueued {
		return 0, nil
	}
	var n int
	// A row value, not an OR: it bounds the index range, so the count reads
	// only the runs ahead (the head of a long queue is one seek).
	err := tx.QueryRow(ctx, `SELECT count(*) FROM runs`+s.d.Hint("runs_waiting")+` WHERE tenant_id = $1 AND admission = 'pending'
		AND status = 'queued' AND (requested_at, id) <= ($2, $3)`, r.TenantID, r.RequestedAt, r.ID).Scan(&n)
	return n, err
}

// tailPosition is position for a run that is most likely the tail of its
// queue (one just requested): when the last pending run by (requested_at,
// id) is r, its place is the queue's length, read from the account with one
// backward index seek instead of counting the whole queue. Otherwise (r was
// requested with an earlier time, or others joined since) it counts.
func (s *Store) tailPosition(ctx context.Context, tx Tx, r store.Run) (int, error) {
	if r.Admission != quota.Pending || r.Status != engine.RunQueued {
		return 0, nil
	}
	var n int
	var tail int64
	err := tx.QueryRow(ctx, `SELECT a.pending, coalesce((SELECT id FROM runs`+s.d.Hint("runs_waiting")+`
			WHERE tenant_id = $1 AND admission = 'pending' AND status = 'queued'
			ORDER BY requested_at DESC, id DESC LIMIT 1), 0)
		FROM quota_accounts a WHERE a.tenant_id = $1`, r.TenantID).Scan(&n, &tail)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if err != nil || tail != r.ID {
		return s.position(ctx, tx, r)
	}
	return n, nil
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// Apply implements store.Store. The run's row lock serializes its events
// across every server sharing the database; other runs proceed in parallel.
func (s *Store) Apply(ctx context.Context, runID int64, e engine.Event) (engine.State, []engine.Command, error) {
	var tr store.Transition
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The tenant's account row first, the run's second: every writer
		// takes them in that order, so admissions never deadlock. Both
		// locks in one round trip: a batch runs its statements in order.
		var tenantID, lastSeq int64
		var admission quota.Admission
		b := &pgx.Batch{}
		b.Queue(`WITH r AS (SELECT tenant_id FROM runs WHERE id = $1)
			INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt)
			SELECT tenant_id, $2, $3, 0, 0, 0 FROM r
			ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id`, runID, quota.DefaultPlan, s.now())
		b.Queue(`SELECT tenant_id, last_seq, admission FROM runs WHERE id = $1 FOR UPDATE`, runID).
			QueryRow(func(row pgx.Row) error { return row.Scan(&tenantID, &lastSeq, &admission) })
		err := tx.SendBatch(ctx, b).Close()
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
		}
		if err != nil {
			return fmt.Errorf("postgres: locking run %d and its tenant's account: %w", runID, err)
		}
		tr, err = s.applyLocked(ctx, tx, runID, tenantID, lastSeq, admission, e, false)
		return err
	})
	if err != nil {
		return engine.State{}, nil, err
	}
	if !tr.Noop {
		s.cache.Put(runID, tr.Seq, tr.State.Workflow, tr.State, tr.StateJSON)
	}
	return tr.State, tr.Commands, nil
}

// applyIn is Apply inside tx, which holds the tenant's account lock. It
// also charges the attempts the event ended and, when the run ends, admits
// the tenant's line (unless admitting: Fill is admitting this run and does
// that itself). RunRequested on a run waiting in the line is ignored
// unless admitting: only Fill starts it.
func (s *Store) applyIn(ctx context.Context, tx pgx.Tx, runID int64, e engine.Event, admitting bool) (store.Transition, error) {
	var tenantID, lastSeq int64
	var admission quota.Admission
	err := tx.QueryRow(ctx, `SELECT tenant_id, last_seq, admission FROM runs WHERE id = $1 FOR UPDATE`, runID).Scan(&tenantID, &lastSeq, &admission)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Transition{}, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return store.Transition{}, fmt.Errorf("postgres: locking run %d: %w", runID, err)
	}
	return s.applyLocked(ctx, tx, runID, tenantID, lastSeq, admission, e, admitting)
}

// applyLocked is applyIn once the run's row is locked and its tenant,
// last sequence number and admission are known.
func (s *Store) applyLocked(ctx context.Context, tx pgx.Tx, runID, tenantID, lastSeq int64, admission quota.Admission, e engine.Event, admitting bool) (store.Transition, error) {
	prev, prevJSON, err := s.cache.State(runID, lastSeq, func(withSource bool) (st store.Stored, err error) {
		if withSource {
			err = tx.QueryRow(ctx, `SELECT state, file, source FROM runs WHERE id = $1`, runID).Scan(&st.StateJSON, &st.File, &st.Source)
		} else {
			err = tx.QueryRow(ctx, `SELECT state FROM runs WHERE id = $1`, runID).Scan(&st.StateJSON)
		}
		if err != nil {
			err = fmt.Errorf("postgres: loading the state of run %d: %w", runID, err)
		}
		return st, err
	})
	if err != nil {
		return store.Transition{}, err
	}
	if e.Kind == engine.RunRequested && admission != quota.Admitted && !admitting {
		return store.Transition{State: prev, Noop: true}, nil
	}
	now := s.now()
	tr, err := store.NewTransition(prev, prevJSON, e, now)
	if err != nil || tr.Noop {
		return tr, err
	}
	tr.Seq = lastSeq + 1
	if err := record(ctx, tx, runID, tenantID, tr, now); err != nil {
		return tr, fmt.Errorf("postgres: recording %s for run %d: %w", tr.Event.Kind, runID, err)
	}
	q := admitTx{s, tx}
	if admission == quota.Pending && prev.Status == engine.RunQueued && tr.State.Status != engine.RunQueued {
		// The run left the line without being admitted (cancelled while waiting).
		if err := q.addPending(ctx, tenantID, -1); err != nil {
			return tr, fmt.Errorf("postgres: taking run %d out of the line: %w", runID, err)
		}
	}
	if err := q.charge(ctx, tenantID, runID, store.Charges(prev, tr.State, tr.Event.Time), now); err != nil {
		return tr, fmt.Errorf("postgres: charging run %d: %w", runID, err)
	}
	if store.Ended(prev, tr.State) && !admitting {
		if _, _, err := store.Fill(ctx, q, tenantID, now); err != nil {
			return tr, fmt.Errorf("postgres: admitting the next run of tenant %d: %w", tenantID, err)
		}
	}
	return tr, nil
}

// record writes the event, the projections and the outbox entries in one
// round trip.
func record(ctx context.Context, tx pgx.Tx, runID, tenantID int64, tr store.Transition, now time.Time) error {
	body, err := json.Marshal(tr.Event)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO events (run_id, seq, kind, body, recorded_at) VALUES ($1, $2, $3, $4, $5)`,
		runID, tr.Seq, tr.Event.Kind, body, now)
	st := tr.State
	b.Queue(`UPDATE runs SET status = $1, reason = $2, started_at = $3, finished_at = $4, state = $5, last_seq = $6
		WHERE id = $7`, st.Status, st.Reason, nullTime(st.StartedAt), nullTime(st.FinishedAt), tr.StateJSON, tr.Seq, runID)
	for _, i := range tr.Changed {
		ss := st.Steps[i]
		b.Queue(`UPDATE steps SET status = $1, attempt = $2, exit_code = $3, reason = $4,
			queued_at = $5, started_at = $6, finished_at = $7, waiting_reason = '' WHERE run_id = $8 AND idx = $9`,
			ss.Status, ss.Attempt, ss.ExitCode, ss.Reason, nullTime(ss.QueuedAt), nullTime(ss.StartedAt), nullTime(ss.FinishedAt),
			runID, i)
	}
	notify := false
	for _, c := range tr.Outbox {
		var labels []byte
		if len(c.Labels) > 0 {
			if labels, err = json.Marshal(c.Labels); err != nil {
				return err
			}
		}
		b.Queue(`INSERT INTO outbox (run_id, tenant_id, kind, step, attempt, timeout_ns, status, reason,
			available_at, created_at, labels) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			runID, tenantID, c.Kind, c.Step, c.Attempt, int64(c.Timeout), c.Status, c.Reason, c.AvailableAt, now, labels)
		notify = notify || !c.AvailableAt.After(now)
	}
	for _, c := range tr.Withdraw { // see store.Transition.Withdraw
		b.Queue(`UPDATE outbox SET done_at = $1 WHERE run_id = $2 AND kind = 'start_step'
			AND step = $3 AND attempt = $4 AND done_at IS NULL AND (lease_until IS NULL OR lease_until <= $1)`,
			now, runID, c.Step, c.Attempt)
	}
	if notify {
		// Delivered at commit, to every listening claimer (identical
		// notifications of one transaction are folded into one). A retry's
		// later wake-up is found by the enqueuing process's timer or the
		// claimers' safety poll.
		b.Queue(`SELECT pg_notify('` + OutboxChannel + `', '')`)
	}
	return tx.SendBatch(ctx, b).Close()
}

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

// Apply implements store.Store. The single writer connection is the run's
// lock: no other write can interleave between reading the state and
// committing the next one.
func (s *Store) Apply(ctx context.Context, runID int64, e engine.Event) (engine.State, []engine.Command, error) {
	var tr store.Transition
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		tr, err = s.applyIn(ctx, tx, runID, e, false)
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

// applyIn is Apply inside tx. It also charges the attempts the event ended
// and, when the run ends, admits the tenant's line (unless admitting: the
// run is being admitted by Fill, which does that itself). RunRequested on
// a run that waits in the line is ignored unless admitting: only Fill
// starts it.
func (s *Store) applyIn(ctx context.Context, tx *sql.Tx, runID int64, e engine.Event, admitting bool) (store.Transition, error) {
	var tenantID, lastSeq int64
	var admission quota.Admission
	err := tx.QueryRowContext(ctx, `SELECT tenant_id, last_seq, admission FROM runs WHERE id = ?`, runID).Scan(&tenantID, &lastSeq, &admission)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Transition{}, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return store.Transition{}, fmt.Errorf("sqlite: loading run %d: %w", runID, err)
	}
	prev, prevJSON, err := s.cache.State(runID, lastSeq, func(withSource bool) (st store.Stored, err error) {
		if withSource {
			err = tx.QueryRowContext(ctx, `SELECT state, file, source FROM runs WHERE id = ?`, runID).Scan(&st.StateJSON, &st.File, &st.Source)
		} else {
			err = tx.QueryRowContext(ctx, `SELECT state FROM runs WHERE id = ?`, runID).Scan(&st.StateJSON)
		}
		if err != nil {
			err = fmt.Errorf("sqlite: loading the state of run %d: %w", runID, err)
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
	if err := s.record(ctx, tx, runID, tenantID, tr, now); err != nil {
		return tr, fmt.Errorf("sqlite: recording %s for run %d: %w", tr.Event.Kind, runID, err)
	}
	q := admitTx{s, tx}
	if admission == quota.Pending && prev.Status == engine.RunQueued && tr.State.Status != engine.RunQueued {
		// The run left the line without being admitted (cancelled while waiting).
		if err := q.addPending(ctx, tenantID, -1); err != nil {
			return tr, fmt.Errorf("sqlite: taking run %d out of the line: %w", runID, err)
		}
	}
	if err := q.charge(ctx, tenantID, runID, store.Charges(prev, tr.State, tr.Event.Time), now); err != nil {
		return tr, fmt.Errorf("sqlite: charging run %d: %w", runID, err)
	}
	if store.Ended(prev, tr.State) && !admitting {
		if _, _, err := store.Fill(ctx, q, tenantID, now); err != nil {
			return tr, fmt.Errorf("sqlite: admitting the next run of tenant %d: %w", tenantID, err)
		}
	}
	return tr, nil
}

// record writes the event, the projections and the outbox entries.
func (s *Store) record(ctx context.Context, tx *sql.Tx, runID, tenantID int64, tr store.Transition, now time.Time) error {
	body, err := json.Marshal(tr.Event)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (run_id, seq, kind, body, recorded_at) VALUES (?, ?, ?, ?, ?)`,
		runID, tr.Seq, tr.Event.Kind, string(body), now.UnixMicro()); err != nil {
		return err
	}
	st := tr.State
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, reason = ?, started_at = ?, finished_at = ?,
		state = ?, last_seq = ? WHERE id = ?`,
		st.Status, st.Reason, micros(st.StartedAt), micros(st.FinishedAt), string(tr.StateJSON), tr.Seq, runID); err != nil {
		return err
	}
	for _, i := range tr.Changed {
		ss := st.Steps[i]
		if _, err := tx.ExecContext(ctx, `UPDATE steps SET status = ?, attempt = ?, exit_code = ?, reason = ?,
			queued_at = ?, started_at = ?, finished_at = ?, waiting_reason = '' WHERE run_id = ? AND idx = ?`,
			ss.Status, ss.Attempt, ss.ExitCode, ss.Reason, micros(ss.QueuedAt), micros(ss.StartedAt), micros(ss.FinishedAt),
			runID, i); err != nil {
			return err
		}
	}
	for _, c := range tr.Outbox {
		var labels *string
		if len(c.Labels) > 0 {
			b, err := json.Marshal(c.Labels)
			if err != nil {
				return err
			}
			labels = new(string(b))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (run_id, tenant_id, kind, step, attempt, timeout_ns,
			status, reason, available_at, created_at, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			runID, tenantID, c.Kind, c.Step, c.Attempt, int64(c.Timeout), c.Status, c.Reason,
			c.AvailableAt.UnixMicro(), now.UnixMicro(), labels); err != nil {
			return err
		}
	}
	for _, c := range tr.Withdraw { // see store.Transition.Withdraw
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET done_at = ?1 WHERE run_id = ?2 AND kind = 'start_step'
			AND step = ?3 AND attempt = ?4 AND done_at IS NULL AND (lease_until IS NULL OR lease_until <= ?1)`,
			now.UnixMicro(), runID, c.Step, c.Attempt); err != nil {
			return err
		}
	}
	return nil
}

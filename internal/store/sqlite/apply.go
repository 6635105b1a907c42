package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// Apply implements store.Store. The single writer connection is the run's
// lock: no other write can interleave between reading the state and
// committing the next one.
func (s *Store) Apply(ctx context.Context, runID int64, e engine.Event) (engine.State, []engine.Command, error) {
	var tr store.Transition
	err := s.write(ctx, func(tx *sql.Tx) error {
		var tenantID, lastSeq int64
		err := tx.QueryRowContext(ctx, `SELECT tenant_id, last_seq FROM runs WHERE id = ?`, runID).Scan(&tenantID, &lastSeq)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: loading run %d: %w", runID, err)
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
			return err
		}
		now := s.now()
		if tr, err = store.Decide(prev, prevJSON, e, now); err != nil || tr.Noop {
			return err
		}
		tr.Seq = lastSeq + 1
		if err := s.record(ctx, tx, runID, tenantID, tr, now); err != nil {
			return fmt.Errorf("sqlite: recording %s for run %d: %w", tr.Event.Kind, runID, err)
		}
		return nil
	})
	if err != nil {
		return engine.State{}, nil, err
	}
	if !tr.Noop {
		s.cache.Put(runID, tr.Seq, tr.State.Workflow, tr.State, tr.StateJSON)
	}
	return tr.State, tr.Commands, nil
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
			queued_at = ?, started_at = ?, finished_at = ? WHERE run_id = ? AND idx = ?`,
			ss.Status, ss.Attempt, ss.ExitCode, ss.Reason, micros(ss.QueuedAt), micros(ss.StartedAt), micros(ss.FinishedAt),
			runID, i); err != nil {
			return err
		}
	}
	for _, c := range tr.Outbox {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (run_id, tenant_id, kind, step, attempt, timeout_ns,
			status, reason, available_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			runID, tenantID, c.Kind, c.Step, c.Attempt, int64(c.Timeout), c.Status, c.Reason,
			c.AvailableAt.UnixMicro(), now.UnixMicro()); err != nil {
			return err
		}
	}
	return nil
}

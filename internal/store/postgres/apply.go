package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// Apply implements store.Store. The run's row lock serializes its events
// across every server sharing the database; other runs proceed in parallel.
func (s *Store) Apply(ctx context.Context, runID int64, e engine.Event) (engine.State, []engine.Command, error) {
	var tr store.Transition
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var tenantID, lastSeq int64
		err := tx.QueryRow(ctx, `SELECT tenant_id, last_seq FROM runs WHERE id = $1 FOR UPDATE`, runID).Scan(&tenantID, &lastSeq)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
		}
		if err != nil {
			return fmt.Errorf("postgres: locking run %d: %w", runID, err)
		}
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
			return err
		}
		now := s.now()
		if tr, err = store.Decide(prev, prevJSON, e, now); err != nil || tr.Noop {
			return err
		}
		tr.Seq = lastSeq + 1
		if err := record(ctx, tx, runID, tenantID, tr, now); err != nil {
			return fmt.Errorf("postgres: recording %s for run %d: %w", tr.Event.Kind, runID, err)
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
			queued_at = $5, started_at = $6, finished_at = $7 WHERE run_id = $8 AND idx = $9`,
			ss.Status, ss.Attempt, ss.ExitCode, ss.Reason, nullTime(ss.QueuedAt), nullTime(ss.StartedAt), nullTime(ss.FinishedAt),
			runID, i)
	}
	for _, c := range tr.Outbox {
		b.Queue(`INSERT INTO outbox (run_id, tenant_id, kind, step, attempt, timeout_ns, status, reason,
			available_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			runID, tenantID, c.Kind, c.Step, c.Attempt, int64(c.Timeout), c.Status, c.Reason, c.AvailableAt, now)
	}
	return tx.SendBatch(ctx, b).Close()
}

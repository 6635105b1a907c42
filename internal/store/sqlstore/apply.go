package sqlstore

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

// Apply implements store.Store. The run's lock (Postgres: its row; SQLite:
// the single writer) serializes its events; other runs proceed in parallel
// where the database allows.
func (s *Store) Apply(ctx context.Context, runID int64, e engine.Event) (engine.State, []engine.Command, error) {
	var tr store.Transition
	err := s.d.Write(ctx, func(tx Tx) (err error) {
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

// applyIn is Apply inside tx: it locks the run, then applies.
func (s *Store) applyIn(ctx context.Context, tx Tx, runID int64, e engine.Event, admitting bool) (store.Transition, error) {
	lk, err := s.d.LockRun(ctx, tx, runID, s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return store.Transition{}, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return store.Transition{}, s.errorf(err, "locking run %d", runID)
	}
	return s.applyLocked(ctx, tx, runID, lk, e, admitting)
}

// applyLocked is applyIn once the run is locked. It also charges the
// attempts the event ended and, when the run ends, admits the tenant's
// queue (unless admitting: Fill is admitting this run and does that
// itself). RunRequested on a run waiting in the queue is ignored unless
// admitting: only Fill starts it.
func (s *Store) applyLocked(ctx context.Context, tx Tx, runID int64, lk RunLock, e engine.Event, admitting bool) (store.Transition, error) {
	prev, prevJSON, err := s.cache.State(runID, lk.LastSeq, func(withSource bool) (st store.Stored, err error) {
		if withSource {
			err = tx.QueryRow(ctx, `SELECT state, file, source FROM runs WHERE id = $1`, runID).Scan(&st.StateJSON, &st.File, &st.Source)
		} else {
			err = tx.QueryRow(ctx, `SELECT state FROM runs WHERE id = $1`, runID).Scan(&st.StateJSON)
		}
		if err != nil {
			err = s.errorf(err, "loading the state of run %d", runID)
		}
		return st, err
	})
	if err != nil {
		return store.Transition{}, err
	}
	if e.Kind == engine.RunRequested && lk.Admission != quota.Admitted && !admitting {
		return store.Transition{State: prev, Noop: true}, nil
	}
	now := s.now()
	tr, err := store.NewTransition(prev, prevJSON, e, now)
	if err != nil || tr.Noop {
		return tr, err
	}
	tr.Seq = lk.LastSeq + 1
	if err := s.record(ctx, tx, runID, lk.TenantID, tr, now); err != nil {
		return tr, s.errorf(err, "recording %s for run %d", tr.Event.Kind, runID)
	}
	q := admitTx{s, tx}
	if lk.Admission == quota.Pending && prev.Status == engine.RunQueued && tr.State.Status != engine.RunQueued {
		// The run left the queue without being admitted (cancelled while waiting).
		if err := q.addPending(ctx, lk.TenantID, -1); err != nil {
			return tr, s.errorf(err, "taking run %d out of the queue", runID)
		}
	}
	if err := q.charge(ctx, lk.TenantID, runID, store.Charges(prev, tr.State, tr.Event.Time), now); err != nil {
		return tr, s.errorf(err, "charging run %d", runID)
	}
	if store.Ended(prev, tr.State) && !admitting {
		if _, _, err := store.Fill(ctx, q, lk.TenantID, now); err != nil {
			return tr, s.errorf(err, "admitting the next run of tenant %d", lk.TenantID)
		}
	}
	return tr, nil
}

// record writes the event, the projections and the outbox entries in one
// batch (one round trip on Postgres).
func (s *Store) record(ctx context.Context, tx Tx, runID, tenantID int64, tr store.Transition, now time.Time) error {
	body, err := json.Marshal(tr.Event)
	if err != nil {
		return err
	}
	b := &Batch{}
	b.Queue(`INSERT INTO events (run_id, seq, kind, body, recorded_at) VALUES ($1, $2, $3, $4, $5)`,
		runID, tr.Seq, tr.Event.Kind, string(body), now)
	st := tr.State
	b.Queue(`UPDATE runs SET status = $1, reason = $2, started_at = $3, finished_at = $4, state = $5, last_seq = $6
		WHERE id = $7`, st.Status, st.Reason, NullTime(st.StartedAt), NullTime(st.FinishedAt), string(tr.StateJSON), tr.Seq, runID)
	for _, i := range tr.Changed {
		ss := st.Steps[i]
		b.Queue(`UPDATE steps SET status = $1, attempt = $2, exit_code = $3, reason = $4,
			queued_at = $5, started_at = $6, finished_at = $7, waiting_reason = '' WHERE run_id = $8 AND idx = $9`,
			ss.Status, ss.Attempt, ss.ExitCode, ss.Reason, NullTime(ss.QueuedAt), NullTime(ss.StartedAt), NullTime(ss.FinishedAt),
			runID, i)
	}
	notify := false
	for _, c := range tr.Outbox {
		var labels *string
		if len(c.Labels) > 0 {
			js, err := json.Marshal(c.Labels)
			if err != nil {
				return err
			}
			labels = new(string(js))
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
	if n := s.d.Notify(); notify && n != "" {
		// Delivered at commit, to every listening claimer (identical
		// notifications of one transaction are folded into one). A retry's
		// later wake-up is found by the enqueuing process's timer or the
		// claimers' safety poll.
		b.Queue(n)
	}
	return tx.Send(ctx, b)
}

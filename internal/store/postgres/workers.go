package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/store"
)

// RegisterWorker implements store.Store.
func (s *Store) RegisterWorker(ctx context.Context, id string, labels map[string]string) error {
	if id == "" {
		return fmt.Errorf("%w: a worker needs an id", store.ErrInvalid)
	}
	js, err := json.Marshal(labelsOrEmpty(labels))
	if err != nil {
		return fmt.Errorf("postgres: registering worker %q: %w", id, err)
	}
	now := s.now()
	_, err = s.pool.Exec(ctx, `INSERT INTO workers (id, labels, started_at, heartbeat_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (id) DO UPDATE SET labels = EXCLUDED.labels, heartbeat_at = EXCLUDED.heartbeat_at`, id, js, now)
	if err != nil {
		return fmt.Errorf("postgres: registering worker %q: %w", id, err)
	}
	return nil
}

// RemoveWorker implements store.Store.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM workers WHERE id = $1`, id); err != nil {
		return fmt.Errorf("postgres: removing worker %q: %w", id, err)
	}
	return nil
}

// ListWorkers implements store.Store.
func (s *Store) ListWorkers(ctx context.Context, liveWithin time.Duration) ([]store.Worker, error) {
	var ws []store.Worker
	err := s.tx(ctx, func(tx pgx.Tx) (err error) {
		ws, err = liveWorkers(ctx, tx, s.now().Add(-liveWithin))
		return err
	})
	return ws, err
}

func liveWorkers(ctx context.Context, tx pgx.Tx, since time.Time) ([]store.Worker, error) {
	rows, err := tx.Query(ctx, `SELECT id, labels, started_at, heartbeat_at FROM workers WHERE heartbeat_at > $1 ORDER BY id`, since)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing workers: %w", err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Worker, error) {
		var w store.Worker
		err := r.Scan(&w.ID, &w.Labels, &w.StartedAt, &w.HeartbeatAt)
		w.StartedAt, w.HeartbeatAt = w.StartedAt.UTC(), w.HeartbeatAt.UTC()
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: listing workers: %w", err)
	}
	return ws, nil
}

// MarkWaiting implements store.Store. It reads the pending start_step
// commands of queued steps and the live workers, and writes only the
// reasons that change, so calling it every few seconds costs two reads.
func (s *Store) MarkWaiting(ctx context.Context, liveWithin time.Duration) (int, error) {
	changed := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		changed = 0
		live, err := liveWorkers(ctx, tx, s.now().Add(-liveWithin))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT s.run_id, s.idx, s.waiting_reason, o.labels
			FROM outbox o JOIN steps s ON s.run_id = o.run_id AND s.name = o.step AND s.attempt = o.attempt
			WHERE o.done_at IS NULL AND o.kind = 'start_step' AND s.status = 'queued'`)
		if err != nil {
			return fmt.Errorf("postgres: reading queued steps: %w", err)
		}
		type upd struct {
			run    int64
			idx    int
			reason string
		}
		var todo []upd
		for rows.Next() {
			var (
				u      upd
				old    string
				labels map[string]string
			)
			if err := rows.Scan(&u.run, &u.idx, &old, &labels); err != nil {
				rows.Close()
				return fmt.Errorf("postgres: reading queued steps: %w", err)
			}
			if u.reason = store.WaitingReason(labels, live); u.reason != old {
				todo = append(todo, u)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: reading queued steps: %w", err)
		}
		for _, u := range todo {
			if _, err := tx.Exec(ctx, `UPDATE steps SET waiting_reason = $1 WHERE run_id = $2 AND idx = $3 AND status = 'queued'`,
				u.reason, u.run, u.idx); err != nil {
				return fmt.Errorf("postgres: setting a waiting reason: %w", err)
			}
		}
		changed = len(todo)
		return nil
	})
	return changed, err
}

// queueNextClaimable reads ClaimFor's next: the earliest time after now at which a
// command cl could take becomes claimable. Commands cl holds are left out
// (it renews them), and so are those claimable at now, which the claim
// took or another claimer is taking. A cancel_step routed to a live owner
// becomes claimable with that owner's start_step lease, counted on its own.
func queueNextClaimable(b *pgx.Batch, cl store.Claim, labels []byte, now time.Time, next *time.Time) {
	b.Queue(`SELECT min(GREATEST(o.available_at, o.lease_until)) FROM outbox o
		WHERE o.done_at IS NULL AND o.claimed_by IS DISTINCT FROM $1
			AND GREATEST(o.available_at, o.lease_until) > $2
			AND (o.labels IS NULL OR o.labels <@ $3::jsonb)
			AND NOT ($4 AND o.kind IN ('start_step', 'cancel_step'))`, cl.Owner, now, labels, cl.NoSteps).
		QueryRow(func(row pgx.Row) error {
			var t *time.Time
			if err := row.Scan(&t); err != nil || t == nil {
				return err
			}
			*next = t.UTC()
			return nil
		})
}

func labelsOrEmpty(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return l
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/store"
)

// RegisterWorker implements store.Store.
func (s *Store) RegisterWorker(ctx context.Context, id string, labels map[string]string) error {
	if id == "" {
		return fmt.Errorf("%w: a worker needs an id", store.ErrInvalid)
	}
	js, err := json.Marshal(labelsOrEmpty(labels))
	if err != nil {
		return fmt.Errorf("sqlite: registering worker %q: %w", id, err)
	}
	now := s.now().UTC().UnixMicro()
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO workers (id, labels, started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?3)
			ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, heartbeat_at = excluded.heartbeat_at`, id, string(js), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: registering worker %q: %w", id, err)
	}
	return nil
}

// RemoveWorker implements store.Store.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM workers WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: removing worker %q: %w", id, err)
	}
	return nil
}

// ListWorkers implements store.Store.
func (s *Store) ListWorkers(ctx context.Context, liveWithin time.Duration) ([]store.Worker, error) {
	var ws []store.Worker
	err := s.read(ctx, func(tx *sql.Tx) (err error) {
		ws, err = liveWorkers(ctx, tx, s.now().UTC().Add(-liveWithin))
		return err
	})
	return ws, err
}

func liveWorkers(ctx context.Context, tx *sql.Tx, since time.Time) ([]store.Worker, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, labels, started_at, heartbeat_at FROM workers WHERE heartbeat_at > ? ORDER BY id`, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing workers: %w", err)
	}
	defer rows.Close()
	var ws []store.Worker
	for rows.Next() {
		var (
			w         store.Worker
			labels    string
			start, hb sql.NullInt64
		)
		if err := rows.Scan(&w.ID, &labels, &start, &hb); err != nil {
			return nil, fmt.Errorf("sqlite: listing workers: %w", err)
		}
		if err := json.Unmarshal([]byte(labels), &w.Labels); err != nil {
			return nil, fmt.Errorf("sqlite: decoding the labels of worker %q: %w", w.ID, err)
		}
		w.StartedAt, w.HeartbeatAt = fromMicros(start), fromMicros(hb)
		ws = append(ws, w)
	}
	return ws, rows.Err()
}

// MarkWaiting implements store.Store; see the Postgres driver.
func (s *Store) MarkWaiting(ctx context.Context, liveWithin time.Duration) (int, error) {
	changed := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		changed = 0
		live, err := liveWorkers(ctx, tx, s.now().UTC().Add(-liveWithin))
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT s.run_id, s.idx, s.waiting_reason, o.labels
			FROM outbox o JOIN steps s ON s.run_id = o.run_id AND s.name = o.step AND s.attempt = o.attempt
			WHERE o.done_at IS NULL AND o.kind = 'start_step' AND s.status = 'queued'`)
		if err != nil {
			return fmt.Errorf("sqlite: reading queued steps: %w", err)
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
				lbl    sql.NullString
				labels map[string]string
			)
			if err := rows.Scan(&u.run, &u.idx, &old, &lbl); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: reading queued steps: %w", err)
			}
			if lbl.Valid {
				if err := json.Unmarshal([]byte(lbl.String), &labels); err != nil {
					rows.Close()
					return fmt.Errorf("sqlite: decoding step labels: %w", err)
				}
			}
			if u.reason = store.WaitingReason(labels, live); u.reason != old {
				todo = append(todo, u)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: reading queued steps: %w", err)
		}
		for _, u := range todo {
			if _, err := tx.ExecContext(ctx, `UPDATE steps SET waiting_reason = ? WHERE run_id = ? AND idx = ? AND status = 'queued'`,
				u.reason, u.run, u.idx); err != nil {
				return fmt.Errorf("sqlite: setting a waiting reason: %w", err)
			}
		}
		changed = len(todo)
		return nil
	})
	return changed, err
}

// nextClaimable implements ClaimFor's next; see the Postgres driver. max()
// of a NULL is NULL here, so a missing lease counts as available_at.
func nextClaimable(ctx context.Context, tx *sql.Tx, cl store.Claim, labels []byte, now time.Time) (time.Time, error) {
	var next sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT min(max(o.available_at, COALESCE(o.lease_until, o.available_at))) FROM outbox o
		WHERE o.done_at IS NULL AND o.claimed_by IS NOT ?1
			AND max(o.available_at, COALESCE(o.lease_until, o.available_at)) > ?2
			AND (o.labels IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(o.labels) r
				WHERE NOT EXISTS (SELECT 1 FROM json_each(?3) w WHERE w.key = r.key AND w.value = r.value)))
			AND NOT (?4 AND o.kind IN ('start_step', 'cancel_step'))`,
		cl.Owner, now.UnixMicro(), string(labels), cl.NoSteps).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, err
	}
	return fromMicros(next), nil
}

func labelsOrEmpty(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return l
}

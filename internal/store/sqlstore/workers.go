package sqlstore

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

// RegisterWorker implements store.Store.
func (s *Store) RegisterWorker(ctx context.Context, id string, labels map[string]string) error {
	if id == "" {
		return fmt.Errorf("%w: a worker needs an id", store.ErrInvalid)
	}
	js, err := JSONLabels(labels)
	if err == nil {
		_, err = s.d.Writer().Exec(ctx, `INSERT INTO workers (id, labels, started_at, heartbeat_at) VALUES ($1, $2, $3, $3)
			ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, heartbeat_at = excluded.heartbeat_at`, id, js, s.now())
	}
	if err != nil {
		return s.errorf(err, "registering worker %q", id)
	}
	return nil
}

// JSONLabels encodes labels as a JSON object, {} for none.
func JSONLabels(l map[string]string) (string, error) {
	if l == nil {
		l = map[string]string{}
	}
	js, err := json.Marshal(l)
	return string(js), err
}

// RemoveWorker implements store.Store.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	if _, err := s.d.Writer().Exec(ctx, `DELETE FROM workers WHERE id = $1`, id); err != nil {
		return s.errorf(err, "removing worker %q", id)
	}
	return nil
}

// ListWorkers implements store.Store.
func (s *Store) ListWorkers(ctx context.Context, liveWithin time.Duration) ([]store.Worker, error) {
	return s.liveWorkers(ctx, s.d.Reader(), s.now().Add(-liveWithin))
}

func (s *Store) liveWorkers(ctx context.Context, tx Tx, since time.Time) ([]store.Worker, error) {
	rows, err := tx.Query(ctx, `SELECT id, labels, started_at, heartbeat_at FROM workers WHERE heartbeat_at > $1 ORDER BY id`, since)
	ws, err := collect(rows, err, func(r Row) (store.Worker, error) {
		var w store.Worker
		var labels []byte
		if err := r.Scan(&w.ID, &labels, Time(&w.StartedAt), Time(&w.HeartbeatAt)); err != nil {
			return w, err
		}
		if err := json.Unmarshal(labels, &w.Labels); err != nil {
			return w, fmt.Errorf("decoding the labels of worker %q: %w", w.ID, err)
		}
		return w, nil
	})
	if err != nil {
		return nil, s.errorf(err, "listing workers")
	}
	return ws, nil
}

// MarkWaiting implements store.Store. It reads the pending start_step
// commands of queued steps and the live workers, and writes only the
// reasons that change, so calling it every few seconds costs two reads.
func (s *Store) MarkWaiting(ctx context.Context, liveWithin time.Duration) (int, error) {
	type upd struct {
		run    int64
		idx    int
		reason string
	}
	var todo []upd
	err := s.d.Write(ctx, func(tx Tx) error {
		live, err := s.liveWorkers(ctx, tx, s.now().Add(-liveWithin))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT s.run_id, s.idx, s.waiting_reason, o.labels
			FROM outbox o JOIN steps s ON s.run_id = o.run_id AND s.name = o.step AND s.attempt = o.attempt
			WHERE o.done_at IS NULL AND o.kind = 'start_step' AND s.status = 'queued'`)
		all, err := collect(rows, err, func(r Row) (u upd, err error) {
			var old string
			var labels []byte
			if err := r.Scan(&u.run, &u.idx, &old, &labels); err != nil {
				return u, err
			}
			var want map[string]string
			if labels != nil {
				if err := json.Unmarshal(labels, &want); err != nil {
					return u, fmt.Errorf("decoding step labels: %w", err)
				}
			}
			if u.reason = store.WaitingReason(want, live); u.reason == old {
				u.run = 0 // unchanged
			}
			return u, nil
		})
		if err != nil {
			return s.errorf(err, "reading queued steps")
		}
		todo = todo[:0]
		for _, u := range all {
			if u.run == 0 {
				continue
			}
			todo = append(todo, u)
			if _, err := tx.Exec(ctx, `UPDATE steps SET waiting_reason = $1 WHERE run_id = $2 AND idx = $3 AND status = 'queued'`,
				u.reason, u.run, u.idx); err != nil {
				return s.errorf(err, "setting a waiting reason")
			}
		}
		return nil
	})
	return len(todo), err
}

// ClaimCommands implements store.Store: a claim with no labels.
func (s *Store) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Command, error) {
	cmds, _, err := s.ClaimFor(ctx, store.Claim{Owner: owner, Limit: limit, Lease: lease})
	return cmds, err
}

// ClaimFor implements store.Store through the dialect's claim.
func (s *Store) ClaimFor(ctx context.Context, cl store.Claim) ([]store.Command, time.Time, error) {
	if err := store.CheckClaim(cl.Owner, cl.Limit, cl.Lease); err != nil {
		return nil, time.Time{}, err
	}
	cmds, next, err := s.d.ClaimFor(ctx, cl, s.now())
	if err != nil {
		return nil, time.Time{}, s.errorf(err, "claiming commands for %q", cl.Owner)
	}
	return cmds, next, nil
}

// CommandCols are the outbox columns ScanCommand reads.
const CommandCols = `id, run_id, tenant_id, kind, step, attempt, timeout_ns, status, reason,
	available_at, claimed_by, lease_until, claims, prev_owner, labels`

// ScanCommand reads CommandCols.
func ScanCommand(r Row) (store.Command, error) {
	var (
		c       store.Command
		timeout int64
		prev    sql.NullString
		labels  []byte
	)
	if err := r.Scan(&c.ID, &c.RunID, &c.TenantID, &c.Kind, &c.Step, &c.Attempt, &timeout, &c.Status, &c.Reason,
		Time(&c.AvailableAt), &c.Owner, Time(&c.LeaseUntil), &c.Claims, &prev, &labels); err != nil {
		return c, err
	}
	c.Timeout, c.PrevOwner = time.Duration(timeout), prev.String
	if labels != nil {
		if err := json.Unmarshal(labels, &c.Labels); err != nil {
			return c, fmt.Errorf("decoding the labels of command %d: %w", c.ID, err)
		}
	}
	return c, nil
}

// ReleaseCommand implements store.Store. The claim's count stays: it was
// handed out.
func (s *Store) ReleaseCommand(ctx context.Context, id int64, owner string) error {
	return s.ownedUpdate(ctx, id, owner, "releasing", false,
		s.d.NotifyIf(`UPDATE outbox SET prev_owner = claimed_by, claimed_by = NULL, lease_until = NULL
			WHERE id = $1 AND claimed_by = $2 AND done_at IS NULL`), id, owner)
}

// ExtendLease implements store.Store.
func (s *Store) ExtendLease(ctx context.Context, id int64, owner string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: lease %v must be positive", store.ErrInvalid, lease)
	}
	return s.ownedUpdate(ctx, id, owner, "extending the lease of", false,
		`UPDATE outbox SET lease_until = $3 WHERE id = $1 AND claimed_by = $2 AND done_at IS NULL`, id, owner, s.now().Add(lease))
}

// CompleteCommand implements store.Store.
func (s *Store) CompleteCommand(ctx context.Context, id int64, owner string) error {
	return s.ownedUpdate(ctx, id, owner, "completing", true,
		`UPDATE outbox SET done_at = $3 WHERE id = $1 AND claimed_by = $2 AND done_at IS NULL`, id, owner, s.now())
}

// ownedUpdate runs an update that only matches a command owner holds, and
// when it matches nothing, says why.
func (s *Store) ownedUpdate(ctx context.Context, id int64, owner, what string, doneOK bool, q string, args ...any) error {
	err := s.d.Write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, q, args...)
		if err != nil || n == 1 {
			return err
		}
		var claimedBy sql.NullString
		var done time.Time
		err = tx.QueryRow(ctx, `SELECT claimed_by, done_at FROM outbox WHERE id = $1`, id).Scan(&claimedBy, Time(&done))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: command %d", store.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		return store.OwnershipError(id, owner, claimedBy.String, !done.IsZero(), doneOK)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		return s.errorf(err, "%s command %d", what, id)
	}
	return err
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	st := store.Stats{RunsByStatus: map[engine.RunStatus]int64{}}
	err := s.d.Read(ctx, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT status, count(*) FROM runs GROUP BY status`)
		_, err = collect(rows, err, func(r Row) (n int64, err error) {
			var status string
			err = r.Scan(&status, &n)
			st.RunsByStatus[engine.RunStatus(status)] = n
			return n, err
		})
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE done_at IS NULL AND available_at <= $1`, s.now()).Scan(&st.CommandsDue)
	})
	if err != nil {
		return store.Stats{}, s.errorf(err, "reading stats")
	}
	return st, nil
}

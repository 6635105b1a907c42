package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/runbookhq/runbook/internal/store"
)

// ClaimCommands implements store.Store: a claim with no labels.
func (s *Store) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Command, error) {
	cmds, _, err := s.ClaimFor(ctx, store.Claim{Owner: owner, Limit: limit, Lease: lease})
	return cmds, err
}

// ClaimFor implements store.Store. With a single writer, claims are
// serialized, so two claimers can never pick the same row. A step's labels
// must all be among the claimer's: no label of the command lacks a match.
func (s *Store) ClaimFor(ctx context.Context, cl store.Claim) ([]store.Command, time.Time, error) {
	owner := cl.Owner
	if err := store.CheckClaim(owner, cl.Limit, cl.Lease); err != nil {
		return nil, time.Time{}, err
	}
	labels, err := json.Marshal(labelsOrEmpty(cl.Labels))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlite: claiming commands for %q: %w", owner, err)
	}
	now := s.now().UTC()
	var (
		cmds []store.Command
		next time.Time
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		cmds, next = nil, time.Time{}
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET prev_owner = COALESCE(claimed_by, prev_owner), claimed_by = ?1, lease_until = ?2, claims = claims + 1
			WHERE id IN (SELECT id FROM (SELECT o.id, o.kind,
					row_number() OVER (PARTITION BY o.kind = 'start_step' ORDER BY o.available_at, o.id) AS n
				FROM outbox o
				WHERE o.done_at IS NULL AND o.available_at <= ?3 AND (o.lease_until IS NULL OR o.lease_until <= ?3)
					AND (o.labels IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(o.labels) r
						WHERE NOT EXISTS (SELECT 1 FROM json_each(?5) w WHERE w.key = r.key AND w.value = r.value)))
					AND NOT (?6 AND o.kind IN ('start_step', 'cancel_step'))
					AND NOT (?7 < 0 AND o.kind = 'start_step')
					AND (o.kind <> 'cancel_step' OR NOT EXISTS (
						SELECT 1 FROM outbox h WHERE h.run_id = o.run_id AND h.step = o.step AND h.attempt = o.attempt
							AND h.kind = 'start_step' AND h.done_at IS NULL
							AND h.claimed_by <> ?1 AND h.lease_until > ?3))
				ORDER BY o.available_at, o.id LIMIT ?4)
				WHERE ?7 <= 0 OR kind <> 'start_step' OR n <= ?7)
			RETURNING id, run_id, tenant_id, kind, step, attempt, timeout_ns, status, reason,
				available_at, claimed_by, lease_until, claims, prev_owner, labels`,
			owner, now.Add(cl.Lease).UnixMicro(), now.UnixMicro(), cl.Limit, string(labels), cl.NoSteps, cl.MaxStarts)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c                 store.Command
				timeout           int64
				available, leaseT sql.NullInt64
				prev, lbl         sql.NullString
			)
			if err := rows.Scan(&c.ID, &c.RunID, &c.TenantID, &c.Kind, &c.Step, &c.Attempt, &timeout, &c.Status, &c.Reason,
				&available, &c.Owner, &leaseT, &c.Claims, &prev, &lbl); err != nil {
				return err
			}
			c.Timeout = time.Duration(timeout)
			c.AvailableAt, c.LeaseUntil = fromMicros(available), fromMicros(leaseT)
			c.PrevOwner = prev.String
			if lbl.Valid {
				if err := json.Unmarshal([]byte(lbl.String), &c.Labels); err != nil {
					return fmt.Errorf("decoding the labels of command %d: %w", c.ID, err)
				}
			}
			cmds = append(cmds, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(cmds) < cl.Limit {
			next, err = nextClaimable(ctx, tx, cl, labels, now)
		}
		return err
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlite: claiming commands for %q: %w", owner, err)
	}
	slices.SortFunc(cmds, store.CompareCommands) // RETURNING has no defined order
	return cmds, next, nil
}

// ReleaseCommand implements store.Store.
func (s *Store) ReleaseCommand(ctx context.Context, id int64, owner string) error {
	return s.ownedUpdate(ctx, id, owner, "releasing", false,
		`UPDATE outbox SET prev_owner = claimed_by, claimed_by = NULL, lease_until = NULL
			WHERE id = ? AND claimed_by = ? AND done_at IS NULL`, id, owner)
}

// ExtendLease implements store.Store.
func (s *Store) ExtendLease(ctx context.Context, id int64, owner string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: lease %v must be positive", store.ErrInvalid, lease)
	}
	until := s.now().UTC().Add(lease).UnixMicro()
	return s.ownedUpdate(ctx, id, owner, "extending the lease of", false,
		`UPDATE outbox SET lease_until = ? WHERE id = ? AND claimed_by = ? AND done_at IS NULL`, until, id, owner)
}

// CompleteCommand implements store.Store.
func (s *Store) CompleteCommand(ctx context.Context, id int64, owner string) error {
	return s.ownedUpdate(ctx, id, owner, "completing", true,
		`UPDATE outbox SET done_at = ? WHERE id = ? AND claimed_by = ? AND done_at IS NULL`, s.now().UTC().UnixMicro(), id, owner)
}

// ownedUpdate runs an update that only matches a command owner holds, and
// when it matches nothing, says why.
func (s *Store) ownedUpdate(ctx context.Context, id int64, owner, what string, doneOK bool, q string, args ...any) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var (
			claimedBy sql.NullString
			done      sql.NullInt64
		)
		err = tx.QueryRowContext(ctx, `SELECT claimed_by, done_at FROM outbox WHERE id = ?`, id).Scan(&claimedBy, &done)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: command %d", store.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		return store.OwnershipError(id, owner, claimedBy.String, done.Valid, doneOK)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("sqlite: %s command %d: %w", what, id, err)
	}
	return err
}

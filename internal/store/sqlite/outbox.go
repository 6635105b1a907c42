package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/runbookhq/runbook/internal/store"
)

// ClaimCommands implements store.Store. With a single writer, claims are
// serialized, so two claimers can never pick the same row.
func (s *Store) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Command, error) {
	if err := store.CheckClaim(owner, limit, lease); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var cmds []store.Command
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET claimed_by = ?, lease_until = ?, claims = claims + 1
			WHERE id IN (SELECT id FROM outbox
				WHERE done_at IS NULL AND available_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
				ORDER BY available_at, id LIMIT ?)
			RETURNING id, run_id, tenant_id, kind, step, attempt, timeout_ns, status, reason,
				available_at, claimed_by, lease_until, claims`,
			owner, now.Add(lease).UnixMicro(), now.UnixMicro(), now.UnixMicro(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c                 store.Command
				timeout           int64
				available, leaseT sql.NullInt64
			)
			if err := rows.Scan(&c.ID, &c.RunID, &c.TenantID, &c.Kind, &c.Step, &c.Attempt, &timeout, &c.Status, &c.Reason,
				&available, &c.Owner, &leaseT, &c.Claims); err != nil {
				return err
			}
			c.Timeout = time.Duration(timeout)
			c.AvailableAt, c.LeaseUntil = fromMicros(available), fromMicros(leaseT)
			cmds = append(cmds, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claiming commands for %q: %w", owner, err)
	}
	slices.SortFunc(cmds, store.CompareCommands) // RETURNING has no defined order
	return cmds, nil
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

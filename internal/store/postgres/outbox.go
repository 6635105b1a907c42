package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/store"
)

// OutboxChannel is the LISTEN/NOTIFY channel on which every transaction
// that enqueues a command available now (and every released command)
// notifies, after commit: claimers LISTEN on it instead of polling.
const OutboxChannel = "runbook_outbox"

// ClaimCommands implements store.Store: a claim with no labels.
func (s *Store) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Command, error) {
	cmds, _, err := s.ClaimFor(ctx, store.Claim{Owner: owner, Limit: limit, Lease: lease})
	return cmds, err
}

// ClaimFor implements store.Store. FOR UPDATE SKIP LOCKED lets claimers on
// several processes pass over the rows another claimer is taking, and the
// label and cancel routing filters run in the same query.
func (s *Store) ClaimFor(ctx context.Context, cl store.Claim) ([]store.Command, time.Time, error) {
	owner := cl.Owner
	if err := store.CheckClaim(owner, cl.Limit, cl.Lease); err != nil {
		return nil, time.Time{}, err
	}
	labels, err := json.Marshal(labelsOrEmpty(cl.Labels))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: claiming commands for %q: %w", owner, err)
	}
	now := s.now()
	// A claim does not wait for its WAL flush: losing one in a database
	// crash only leaves the command unclaimed, which the lease already
	// allows for, and a second claimer of a started attempt finds it
	// started by someone else and leaves it. This saves a disk flush on
	// the way from a trigger to its first step.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: claiming commands for %q: %w", owner, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The setting, the claim and the next wake-up in one round trip. The
	// wake-up is read with the claim's now, in its transaction: what was
	// claimable then is taken, so nothing falls between the two; it is
	// only used when the claim was not full.
	var cmds []store.Command
	batch := &pgx.Batch{}
	batch.Queue(`SET LOCAL synchronous_commit = off`)
	// SET reads the row as it was: prev_owner becomes whoever held the
	// lease that expired (or released it).
	// cand takes (and locks) the claimable rows in order; picked keeps at
	// most MaxStarts of its start_steps. Excess ones are unlocked at
	// commit, a round trip later.
	batch.Queue(`WITH cand AS (
			SELECT o.id, o.kind, o.available_at FROM outbox o
			WHERE o.done_at IS NULL AND o.available_at <= $3 AND (o.lease_until IS NULL OR o.lease_until <= $3)
				AND (o.labels IS NULL OR o.labels <@ $5::jsonb)
				AND NOT ($6 AND o.kind IN ('start_step', 'cancel_step'))
				AND NOT ($7 < 0 AND o.kind = 'start_step')
				AND (o.kind <> 'cancel_step' OR NOT EXISTS (
					SELECT 1 FROM outbox h WHERE h.run_id = o.run_id AND h.step = o.step AND h.attempt = o.attempt
						AND h.kind = 'start_step' AND h.done_at IS NULL
						AND h.claimed_by <> $1 AND h.lease_until > $3))
			ORDER BY o.available_at, o.id LIMIT $4
			FOR UPDATE OF o SKIP LOCKED),
		picked AS (
			SELECT id FROM (SELECT id, kind, row_number() OVER (PARTITION BY kind = 'start_step' ORDER BY available_at, id) AS n FROM cand) c
			WHERE $7 <= 0 OR kind <> 'start_step' OR n <= $7)
		UPDATE outbox o SET prev_owner = COALESCE(o.claimed_by, o.prev_owner), claimed_by = $1, lease_until = $2, claims = o.claims + 1
		FROM picked WHERE o.id = picked.id
		RETURNING o.id, o.run_id, o.tenant_id, o.kind, o.step, o.attempt, o.timeout_ns, o.status, o.reason,
			o.available_at, o.claimed_by, o.lease_until, o.claims, o.prev_owner, o.labels`,
		owner, now.Add(cl.Lease), now, cl.Limit, labels, cl.NoSteps, cl.MaxStarts).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					c       store.Command
					timeout int64
					prev    *string
				)
				if err := rows.Scan(&c.ID, &c.RunID, &c.TenantID, &c.Kind, &c.Step, &c.Attempt, &timeout, &c.Status, &c.Reason,
					&c.AvailableAt, &c.Owner, &c.LeaseUntil, &c.Claims, &prev, &c.Labels); err != nil {
					return err
				}
				c.Timeout = time.Duration(timeout)
				c.AvailableAt, c.LeaseUntil = c.AvailableAt.UTC(), c.LeaseUntil.UTC()
				if prev != nil {
					c.PrevOwner = *prev
				}
				cmds = append(cmds, c)
			}
			return rows.Err()
		})
	var next time.Time
	queueNextClaimable(batch, cl, labels, now, &next)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: claiming commands for %q: %w", owner, err)
	}
	if len(cmds) == cl.Limit {
		next = time.Time{}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: claiming commands for %q: %w", owner, err)
	}
	slices.SortFunc(cmds, store.CompareCommands) // RETURNING has no defined order
	return cmds, next, nil
}

// ReleaseCommand implements store.Store. The claim's count stays: it was
// handed out.
func (s *Store) ReleaseCommand(ctx context.Context, id int64, owner string) error {
	return s.ownedUpdate(ctx, id, owner, "releasing", false,
		`WITH r AS (UPDATE outbox SET prev_owner = claimed_by, claimed_by = NULL, lease_until = NULL
			WHERE id = $1 AND claimed_by = $2 AND done_at IS NULL RETURNING id)
		SELECT pg_notify('`+OutboxChannel+`', '') FROM r`, id, owner)
}

// ExtendLease implements store.Store.
func (s *Store) ExtendLease(ctx context.Context, id int64, owner string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: lease %v must be positive", store.ErrInvalid, lease)
	}
	return s.ownedUpdate(ctx, id, owner, "extending the lease of", false,
		`UPDATE outbox SET lease_until = $1 WHERE id = $2 AND claimed_by = $3 AND done_at IS NULL`, s.now().Add(lease), id, owner)
}

// CompleteCommand implements store.Store.
func (s *Store) CompleteCommand(ctx context.Context, id int64, owner string) error {
	return s.ownedUpdate(ctx, id, owner, "completing", true,
		`UPDATE outbox SET done_at = $1 WHERE id = $2 AND claimed_by = $3 AND done_at IS NULL`, s.now(), id, owner)
}

// ownedUpdate runs an update that only matches a command owner holds, and
// when it matches nothing, says why.
func (s *Store) ownedUpdate(ctx context.Context, id int64, owner, what string, doneOK bool, q string, args ...any) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var (
			claimedBy *string
			done      *time.Time
		)
		err = tx.QueryRow(ctx, `SELECT claimed_by, done_at FROM outbox WHERE id = $1`, id).Scan(&claimedBy, &done)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: command %d", store.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		holder := ""
		if claimedBy != nil {
			holder = *claimedBy
		}
		return store.OwnershipError(id, owner, holder, done != nil, doneOK)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("postgres: %s command %d: %w", what, id, err)
	}
	return err
}

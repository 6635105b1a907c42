package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateRefreshToken implements account.Repo.
func (s *Store) CreateRefreshToken(ctx context.Context, t account.RefreshToken) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return insertRefresh(ctx, tx, t) })
}

func insertRefresh(ctx context.Context, tx pgx.Tx, t account.RefreshToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, family, user_id, issued_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, t.Hash, t.Family, t.UserID, t.IssuedAt, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("postgres: storing a refresh token: %w", err)
	}
	return nil
}

// RefreshToken implements account.Repo.
func (s *Store) RefreshToken(ctx context.Context, hash []byte) (account.RefreshToken, error) {
	t := account.RefreshToken{Hash: hash}
	var used, revoked *time.Time
	err := s.pool.QueryRow(ctx, `SELECT family, user_id, issued_at, expires_at, used_at, revoked_at
		FROM refresh_tokens WHERE hash = $1`, hash).Scan(&t.Family, &t.UserID, &t.IssuedAt, &t.ExpiresAt, &used, &revoked)
	if err != nil {
		return account.RefreshToken{}, notFound(err, "refresh token")
	}
	t.IssuedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = t.IssuedAt.UTC(), t.ExpiresAt.UTC(), utc(used), utc(revoked)
	return t, nil
}

// RotateRefreshToken implements account.Repo. The conditional UPDATE takes
// the row lock, so of two concurrent rotations the second sees used_at set.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next account.RefreshToken, now time.Time) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $1
			WHERE hash = $2 AND used_at IS NULL AND revoked_at IS NULL`, now, oldHash)
		if err != nil {
			return fmt.Errorf("postgres: rotating a refresh token: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: the refresh token was used or revoked meanwhile", store.ErrConflict)
		}
		return insertRefresh(ctx, tx, next)
	})
}

// RevokeRefreshFamily implements account.Repo.
func (s *Store) RevokeRefreshFamily(ctx context.Context, family string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL`, now, family)
	if err != nil {
		return fmt.Errorf("postgres: revoking refresh tokens: %w", err)
	}
	return nil
}

const patCols = `id, user_id, name, hint, created_at, expires_at, revoked_at`

func scanPAT(row pgx.Row) (account.PAT, error) {
	var p account.PAT
	var expires, revoked *time.Time
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.Hint, &p.CreatedAt, &expires, &revoked); err != nil {
		return account.PAT{}, err
	}
	p.CreatedAt, p.ExpiresAt, p.RevokedAt = p.CreatedAt.UTC(), utc(expires), utc(revoked)
	return p, nil
}

// CreatePAT implements account.Repo.
func (s *Store) CreatePAT(ctx context.Context, p account.PAT, hash []byte) (account.PAT, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO personal_tokens (user_id, name, hint, hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, p.UserID, p.Name, p.Hint, hash, p.CreatedAt, nullTime(p.ExpiresAt)).Scan(&p.ID)
	if err != nil {
		return account.PAT{}, fmt.Errorf("postgres: storing a personal access token for user %d: %w", p.UserID, err)
	}
	return p, nil
}

// PATByHash implements account.Repo.
func (s *Store) PATByHash(ctx context.Context, hash []byte) (account.PAT, error) {
	p, err := scanPAT(s.pool.QueryRow(ctx, `SELECT `+patCols+` FROM personal_tokens WHERE hash = $1`, hash))
	if err != nil {
		return account.PAT{}, notFound(err, "personal access token")
	}
	return p, nil
}

// PATs implements account.Repo.
func (s *Store) PATs(ctx context.Context, userID int64) ([]account.PAT, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+patCols+` FROM personal_tokens WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing personal access tokens: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.PAT, error) { return scanPAT(r) })
}

// RevokePAT implements account.Repo.
func (s *Store) RevokePAT(ctx context.Context, userID, id int64, now time.Time) error {
	return s.update(ctx, fmt.Sprintf("personal access token %d", id),
		`UPDATE personal_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3`, now, id, userID)
}

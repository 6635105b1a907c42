package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateRefreshToken implements account.Repo.
func (s *Store) CreateRefreshToken(ctx context.Context, t account.RefreshToken) error {
	return s.write(ctx, func(tx *sql.Tx) error { return insertRefresh(ctx, tx, t) })
}

func insertRefresh(ctx context.Context, tx *sql.Tx, t account.RefreshToken) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, family, user_id, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, t.Hash, t.Family, t.UserID, t.IssuedAt.UnixMicro(), t.ExpiresAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite: storing a refresh token: %w", err)
	}
	return nil
}

// RefreshToken implements account.Repo.
func (s *Store) RefreshToken(ctx context.Context, hash []byte) (account.RefreshToken, error) {
	t := account.RefreshToken{Hash: hash}
	var issued, expires int64
	var used, revoked sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT family, user_id, issued_at, expires_at, used_at, revoked_at
		FROM refresh_tokens WHERE hash = ?`, hash).Scan(&t.Family, &t.UserID, &issued, &expires, &used, &revoked)
	if err != nil {
		return account.RefreshToken{}, notFound(err, "refresh token")
	}
	t.IssuedAt, t.ExpiresAt = time.UnixMicro(issued).UTC(), time.UnixMicro(expires).UTC()
	t.UsedAt, t.RevokedAt = fromMicros(used), fromMicros(revoked)
	return t, nil
}

// RotateRefreshToken implements account.Repo.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next account.RefreshToken, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ?
			WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL`, now.UnixMicro(), oldHash)
		if err != nil {
			return fmt.Errorf("sqlite: rotating a refresh token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: the refresh token was used or revoked meanwhile", store.ErrConflict)
		}
		return insertRefresh(ctx, tx, next)
	})
}

// RevokeRefreshFamily implements account.Repo.
func (s *Store) RevokeRefreshFamily(ctx context.Context, family string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL`,
			now.UnixMicro(), family)
		if err != nil {
			return fmt.Errorf("sqlite: revoking refresh tokens: %w", err)
		}
		return nil
	})
}

const patCols = `id, user_id, name, hint, created_at, expires_at, revoked_at`

func scanPAT(row interface{ Scan(...any) error }) (account.PAT, error) {
	var p account.PAT
	var created int64
	var expires, revoked sql.NullInt64
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.Hint, &created, &expires, &revoked); err != nil {
		return account.PAT{}, err
	}
	p.CreatedAt, p.ExpiresAt, p.RevokedAt = time.UnixMicro(created).UTC(), fromMicros(expires), fromMicros(revoked)
	return p, nil
}

// CreatePAT implements account.Repo.
func (s *Store) CreatePAT(ctx context.Context, p account.PAT, hash []byte) (account.PAT, error) {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO personal_tokens (user_id, name, hint, hash, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, p.UserID, p.Name, p.Hint, hash, p.CreatedAt.UnixMicro(), micros(p.ExpiresAt)).Scan(&p.ID)
	})
	if err != nil {
		return account.PAT{}, fmt.Errorf("sqlite: storing a personal access token for user %d: %w", p.UserID, err)
	}
	return p, nil
}

// PATByHash implements account.Repo.
func (s *Store) PATByHash(ctx context.Context, hash []byte) (account.PAT, error) {
	p, err := scanPAT(s.r.QueryRowContext(ctx, `SELECT `+patCols+` FROM personal_tokens WHERE hash = ?`, hash))
	if err != nil {
		return account.PAT{}, notFound(err, "personal access token")
	}
	return p, nil
}

// PATs implements account.Repo.
func (s *Store) PATs(ctx context.Context, userID int64) ([]account.PAT, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+patCols+` FROM personal_tokens WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing personal access tokens: %w", err)
	}
	defer rows.Close()
	var pats []account.PAT
	for rows.Next() {
		p, err := scanPAT(rows)
		if err != nil {
			return nil, err
		}
		pats = append(pats, p)
	}
	return pats, rows.Err()
}

// RevokePAT implements account.Repo.
func (s *Store) RevokePAT(ctx context.Context, userID, id int64, now time.Time) error {
	return s.update(ctx, fmt.Sprintf("personal access token %d", id),
		`UPDATE personal_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?`, now.UnixMicro(), id, userID)
}

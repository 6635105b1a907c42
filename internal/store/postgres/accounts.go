package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
)

var _ account.Repo = (*Store)(nil)

const userCols = `u.id, u.username, COALESCE(u.email, ''), u.email_verified, u.tenant_id, u.created_at`

func scanUser(row pgx.Row, extra ...any) (account.User, error) {
	var u account.User
	err := row.Scan(append([]any{&u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.TenantID, &u.CreatedAt}, extra...)...)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

// constraintErr maps a violated constraint, by name, to an account error.
func constraintErr(err error, byName map[string]error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil
	}
	if e, ok := byName[pe.ConstraintName]; ok {
		return e
	}
	return nil
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// CreateUser implements account.Repo.
func (s *Store) CreateUser(ctx context.Context, nu account.NewUser) (account.User, error) {
	u := account.User{Username: nu.Username, Email: nu.Email, EmailVerified: nu.EmailVerified, CreatedAt: nu.CreatedAt}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id`,
			nu.Username, nu.CreatedAt).Scan(&u.TenantID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO users (username, email, email_verified, password_hash, tenant_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, nu.Username, nullString(nu.Email), nu.EmailVerified,
			nullString(nu.PasswordHash), u.TenantID, nu.CreatedAt).Scan(&u.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)`,
			u.TenantID, u.ID, nu.CreatedAt); err != nil {
			return err
		}
		if id := nu.Identity; id != nil {
			return insertIdentity(ctx, tx, *id, u.ID)
		}
		return nil
	})
	if e := constraintErr(err, map[string]error{"tenants_name_key": account.ErrUsernameTaken, "users_username_key": account.ErrUsernameTaken,
		"users_email_key": account.ErrEmailTaken, "identities_pkey": account.ErrIdentityLinked}); e != nil {
		return account.User{}, e
	}
	if err != nil {
		return account.User{}, fmt.Errorf("postgres: creating user %q: %w", nu.Username, err)
	}
	return u, nil
}

func insertIdentity(ctx context.Context, tx pgx.Tx, id account.Identity, userID int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO identities (provider, provider_user_id, user_id, login, email, linked_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, id.Provider, id.ProviderUserID, userID, id.Login, id.Email, id.LinkedAt)
	return err
}

// UserByID implements account.Repo.
func (s *Store) UserByID(ctx context.Context, id int64) (account.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id))
	if err != nil {
		return account.User{}, notFound(err, fmt.Sprintf("user %d", id))
	}
	return u, nil
}

// UserByLogin implements account.Repo.
func (s *Store) UserByLogin(ctx context.Context, login string) (account.User, string, error) {
	var hash *string
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+`, u.password_hash FROM users u
		WHERE u.username = $1 OR u.email = $1`, login), &hash)
	if err != nil {
		return account.User{}, "", notFound(err, "user")
	}
	if hash == nil {
		return u, "", nil
	}
	return u, *hash, nil
}

// UsersByEmail implements account.Repo.
func (s *Store) UsersByEmail(ctx context.Context, email string) ([]account.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users u WHERE u.email = $1`, email)
	if err != nil {
		return nil, fmt.Errorf("postgres: finding users by email: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.User, error) { return scanUser(r) })
}

// SetPasswordHash implements account.Repo.
func (s *Store) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	return s.update(ctx, fmt.Sprintf("user %d", userID), `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
}

// SetEmailVerified implements account.Repo.
func (s *Store) SetEmailVerified(ctx context.Context, userID int64, verified bool) error {
	return s.update(ctx, fmt.Sprintf("user %d", userID), `UPDATE users SET email_verified = $1 WHERE id = $2`, verified, userID)
}

// update runs one UPDATE that must change a row.
func (s *Store) update(ctx context.Context, what, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("postgres: updating %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func utc(t *time.Time) time.Time { return fromNull(t) }

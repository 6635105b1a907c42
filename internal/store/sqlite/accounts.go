package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
)

var _ account.Repo = (*Store)(nil)

const userCols = `u.id, u.username, COALESCE(u.email, ''), u.email_verified, u.tenant_id, u.created_at`

func scanUser(row interface{ Scan(...any) error }, extra ...any) (account.User, error) {
	var u account.User
	var created int64
	err := row.Scan(append([]any{&u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.TenantID, &created}, extra...)...)
	u.CreatedAt = time.UnixMicro(created).UTC()
	return u, err
}

// uniqueErr names what a UNIQUE violation collided with; SQLite says only
// in its message ("UNIQUE constraint failed: users.email").
func uniqueErr(err error, byColumn map[string]error) error {
	if !isCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) && !isCode(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return nil
	}
	for col, e := range byColumn {
		if strings.Contains(err.Error(), col) {
			return e
		}
	}
	return store.ErrConflict
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// CreateUser implements account.Repo.
func (s *Store) CreateUser(ctx context.Context, nu account.NewUser) (account.User, error) {
	u := account.User{Username: nu.Username, Email: nu.Email, EmailVerified: nu.EmailVerified, CreatedAt: nu.CreatedAt}
	at := nu.CreatedAt.UnixMicro()
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO tenants (name, created_at) VALUES (?, ?) RETURNING id`,
			nu.Username, at).Scan(&u.TenantID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO users (username, email, email_verified, password_hash, tenant_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, nu.Username, nullString(nu.Email), nu.EmailVerified,
			nullString(nu.PasswordHash), u.TenantID, at).Scan(&u.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)`,
			u.TenantID, u.ID, at); err != nil {
			return err
		}
		if id := nu.Identity; id != nil {
			return insertIdentity(ctx, tx, *id, u.ID)
		}
		return nil
	})
	if e := uniqueErr(err, map[string]error{"tenants.name": account.ErrUsernameTaken, "users.username": account.ErrUsernameTaken,
		"users.email": account.ErrEmailTaken, "identities.": account.ErrIdentityLinked}); e != nil {
		return account.User{}, e
	}
	if err != nil {
		return account.User{}, fmt.Errorf("sqlite: creating user %q: %w", nu.Username, err)
	}
	return u, nil
}

func insertIdentity(ctx context.Context, tx *sql.Tx, id account.Identity, userID int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO identities (provider, provider_user_id, user_id, login, email, linked_at)
		VALUES (?, ?, ?, ?, ?, ?)`, id.Provider, id.ProviderUserID, userID, id.Login, id.Email, id.LinkedAt.UnixMicro())
	return err
}

// UserByID implements account.Repo.
func (s *Store) UserByID(ctx context.Context, id int64) (account.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, id))
	if err != nil {
		return account.User{}, notFound(err, fmt.Sprintf("user %d", id))
	}
	return u, nil
}

// UserByLogin implements account.Repo.
func (s *Store) UserByLogin(ctx context.Context, login string) (account.User, string, error) {
	var hash sql.NullString
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+`, u.password_hash FROM users u
		WHERE u.username = ?1 OR u.email = ?1`, login), &hash)
	if err != nil {
		return account.User{}, "", notFound(err, "user")
	}
	return u, hash.String, nil
}

// UsersByEmail implements account.Repo.
func (s *Store) UsersByEmail(ctx context.Context, email string) ([]account.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.email = ?`, email)
	if err != nil {
		return nil, fmt.Errorf("sqlite: finding users by email: %w", err)
	}
	defer rows.Close()
	var users []account.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// SetPasswordHash implements account.Repo.
func (s *Store) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	return s.update(ctx, fmt.Sprintf("user %d", userID), `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
}

// SetEmailVerified implements account.Repo.
func (s *Store) SetEmailVerified(ctx context.Context, userID int64, verified bool) error {
	return s.update(ctx, fmt.Sprintf("user %d", userID), `UPDATE users SET email_verified = ? WHERE id = ?`, verified, userID)
}

// update runs one UPDATE that must change a row.
func (s *Store) update(ctx context.Context, what, query string, args ...any) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite: updating %s: %w", what, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: %w", what, store.ErrNotFound)
		}
		return nil
	})
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// HasUsers reports whether any account exists: a server that serves only
// its first user asks it before each sign-up.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&n)
	return n == 1, err
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateOrg implements account.Repo.
func (s *Store) CreateOrg(ctx context.Context, name string, ownerID int64, now time.Time) (account.Membership, error) {
	m := account.Membership{Tenant: store.Tenant{Name: name, CreatedAt: now}, UserID: ownerID, Role: account.RoleOwner}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO tenants (name, created_at) VALUES (?, ?) RETURNING id`,
			name, now.UnixMicro()).Scan(&m.Tenant.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)`,
			m.Tenant.ID, ownerID, now.UnixMicro())
		return err
	})
	switch {
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE):
		return account.Membership{}, account.ErrNameTaken
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return account.Membership{}, fmt.Errorf("user %d: %w", ownerID, store.ErrNotFound)
	case err != nil:
		return account.Membership{}, fmt.Errorf("sqlite: creating organization %q: %w", name, err)
	}
	return m, nil
}

// AddMember implements account.Repo.
func (s *Store) AddMember(ctx context.Context, tenantID, userID int64, role account.Role, now time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
			tenantID, userID, string(role), now.UnixMicro())
		return err
	})
	switch {
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return account.ErrAlreadyMember
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return fmt.Errorf("user %d or tenant %d: %w", userID, tenantID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: adding user %d to tenant %d: %w", userID, tenantID, err)
	}
	return nil
}

const membershipQuery = `SELECT t.id, t.name, t.created_at, m.user_id, m.role, u.id IS NOT NULL
	FROM memberships m JOIN tenants t ON t.id = m.tenant_id LEFT JOIN users u ON u.tenant_id = t.id
	WHERE m.user_id = ?`

func scanMembership(row interface{ Scan(...any) error }) (account.Membership, error) {
	var m account.Membership
	var created int64
	err := row.Scan(&m.Tenant.ID, &m.Tenant.Name, &created, &m.UserID, &m.Role, &m.Personal)
	m.Tenant.CreatedAt = time.UnixMicro(created).UTC()
	return m, err
}

// Membership implements account.Repo.
func (s *Store) Membership(ctx context.Context, userID, tenantID int64) (account.Membership, error) {
	m, err := scanMembership(s.r.QueryRowContext(ctx, membershipQuery+` AND m.tenant_id = ?`, userID, tenantID))
	if err != nil {
		return account.Membership{}, notFound(err, fmt.Sprintf("tenant %d", tenantID))
	}
	return m, nil
}

// Memberships implements account.Repo.
func (s *Store) Memberships(ctx context.Context, userID int64) ([]account.Membership, error) {
	rows, err := s.r.QueryContext(ctx, membershipQuery+` ORDER BY t.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing memberships: %w", err)
	}
	defer rows.Close()
	var ms []account.Membership
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// IdentityUser implements account.Repo.
func (s *Store) IdentityUser(ctx context.Context, provider string, providerUserID int64) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT user_id FROM identities WHERE provider = ? AND provider_user_id = ?`,
		provider, providerUserID).Scan(&id)
	if err != nil {
		return 0, notFound(err, provider+" identity")
	}
	return id, nil
}

// LinkIdentity implements account.Repo.
func (s *Store) LinkIdentity(ctx context.Context, id account.Identity) error {
	err := s.write(ctx, func(tx *sql.Tx) error { return insertIdentity(ctx, tx, id, id.UserID) })
	switch {
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return account.ErrIdentityLinked
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return fmt.Errorf("user %d: %w", id.UserID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: linking a %s identity: %w", id.Provider, err)
	}
	return nil
}

// UpdateIdentity implements account.Repo.
func (s *Store) UpdateIdentity(ctx context.Context, provider string, providerUserID int64, login, email string) error {
	return s.update(ctx, provider+" identity", `UPDATE identities SET login = ?, email = ? WHERE provider = ? AND provider_user_id = ?`,
		login, email, provider, providerUserID)
}

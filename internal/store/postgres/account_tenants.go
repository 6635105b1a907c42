package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateOrg implements account.Repo.
func (s *Store) CreateOrg(ctx context.Context, name string, ownerID int64, now time.Time) (account.Membership, error) {
	m := account.Membership{Tenant: store.Tenant{Name: name, CreatedAt: now}, UserID: ownerID, Role: account.RoleOwner}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id`,
			name, now).Scan(&m.Tenant.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)`,
			m.Tenant.ID, ownerID, now)
		return err
	})
	switch {
	case isCode(err, uniqueViolation):
		return account.Membership{}, account.ErrNameTaken
	case isCode(err, foreignKeyViolation):
		return account.Membership{}, fmt.Errorf("user %d: %w", ownerID, store.ErrNotFound)
	case err != nil:
		return account.Membership{}, fmt.Errorf("postgres: creating organization %q: %w", name, err)
	}
	return m, nil
}

// AddMember implements account.Repo.
func (s *Store) AddMember(ctx context.Context, tenantID, userID int64, role account.Role, now time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		tenantID, userID, string(role), now)
	switch {
	case isCode(err, uniqueViolation):
		return account.ErrAlreadyMember
	case isCode(err, foreignKeyViolation):
		return fmt.Errorf("user %d or tenant %d: %w", userID, tenantID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("postgres: adding user %d to tenant %d: %w", userID, tenantID, err)
	}
	return nil
}

const membershipQuery = `SELECT t.id, t.name, t.created_at, m.user_id, m.role, u.id IS NOT NULL
	FROM memberships m JOIN tenants t ON t.id = m.tenant_id LEFT JOIN users u ON u.tenant_id = t.id
	WHERE m.user_id = $1`

func scanMembership(row pgx.Row) (account.Membership, error) {
	var m account.Membership
	var role string
	err := row.Scan(&m.Tenant.ID, &m.Tenant.Name, &m.Tenant.CreatedAt, &m.UserID, &role, &m.Personal)
	m.Tenant.CreatedAt, m.Role = m.Tenant.CreatedAt.UTC(), account.Role(role)
	return m, err
}

// Membership implements account.Repo.
func (s *Store) Membership(ctx context.Context, userID, tenantID int64) (account.Membership, error) {
	m, err := scanMembership(s.pool.QueryRow(ctx, membershipQuery+` AND m.tenant_id = $2`, userID, tenantID))
	if err != nil {
		return account.Membership{}, notFound(err, fmt.Sprintf("tenant %d", tenantID))
	}
	return m, nil
}

// Memberships implements account.Repo.
func (s *Store) Memberships(ctx context.Context, userID int64) ([]account.Membership, error) {
	rows, err := s.pool.Query(ctx, membershipQuery+` ORDER BY t.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing memberships: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.Membership, error) { return scanMembership(r) })
}

// IdentityUser implements account.Repo.
func (s *Store) IdentityUser(ctx context.Context, provider string, providerUserID int64) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT user_id FROM identities WHERE provider = $1 AND provider_user_id = $2`,
		provider, providerUserID).Scan(&id)
	if err != nil {
		return 0, notFound(err, provider+" identity")
	}
	return id, nil
}

// LinkIdentity implements account.Repo.
func (s *Store) LinkIdentity(ctx context.Context, id account.Identity) error {
	err := s.tx(ctx, func(tx pgx.Tx) error { return insertIdentity(ctx, tx, id, id.UserID) })
	switch {
	case isCode(err, uniqueViolation):
		return account.ErrIdentityLinked
	case isCode(err, foreignKeyViolation):
		return fmt.Errorf("user %d: %w", id.UserID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("postgres: linking a %s identity: %w", id.Provider, err)
	}
	return nil
}

// UpdateIdentity implements account.Repo.
func (s *Store) UpdateIdentity(ctx context.Context, provider string, providerUserID int64, login, email string) error {
	return s.update(ctx, provider+" identity", `UPDATE identities SET login = $1, email = $2 WHERE provider = $3 AND provider_user_id = $4`,
		login, email, provider, providerUserID)
}

package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
)

const userCols = `u.id, u.username, COALESCE(u.email, ''), u.email_verified, u.tenant_id, u.created_at`

func scanUser(row Row, extra ...any) (account.User, error) {
	var u account.User
	err := row.Scan(append([]any{&u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.TenantID, Time(&u.CreatedAt)}, extra...)...)
	return u, err
}

// CreateUser implements account.Repo.
func (s *Store) CreateUser(ctx context.Context, nu account.NewUser) (account.User, error) {
	u := account.User{Username: nu.Username, Email: nu.Email, EmailVerified: nu.EmailVerified, CreatedAt: nu.CreatedAt}
	err := s.d.Write(ctx, func(tx Tx) error {
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
	if v, where := s.d.Violated(err); v == Unique {
		// What collided, by the constraint's table and column.
		for _, c := range []struct {
			on  string
			err error
		}{{"tenants_name", account.ErrUsernameTaken}, {"users_username", account.ErrUsernameTaken},
			{"users_email", account.ErrEmailTaken}, {"identities_", account.ErrIdentityLinked}} {
			if strings.Contains(where, c.on) {
				return account.User{}, c.err
			}
		}
		return account.User{}, fmt.Errorf("%w: %s", store.ErrConflict, where)
	}
	if err != nil {
		return account.User{}, s.errorf(err, "creating user %q", nu.Username)
	}
	return u, nil
}

func insertIdentity(ctx context.Context, tx Tx, id account.Identity, userID int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO identities (provider, provider_user_id, user_id, login, email, linked_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, id.Provider, id.ProviderUserID, userID, id.Login, id.Email, id.LinkedAt)
	return err
}

// UserByID implements account.Repo.
func (s *Store) UserByID(ctx context.Context, id int64) (account.User, error) {
	u, err := scanUser(s.d.Reader().QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id))
	if err != nil {
		return account.User{}, notFound(err, fmt.Sprintf("user %d", id))
	}
	return u, nil
}

// HasUsers reports whether any account exists: a server that serves only
// its first user asks it before each sign-up.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var has bool
	err := s.d.Reader().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&has)
	return has, err
}

// UserByLogin implements account.Repo.
func (s *Store) UserByLogin(ctx context.Context, login string) (account.User, string, error) {
	var hash *string
	u, err := scanUser(s.d.Reader().QueryRow(ctx, `SELECT `+userCols+`, u.password_hash FROM users u
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
	rows, err := s.d.Reader().Query(ctx, `SELECT `+userCols+` FROM users u WHERE u.email = $1`, email)
	users, err := collect(rows, err, func(r Row) (account.User, error) { return scanUser(r) })
	if err != nil {
		return nil, s.errorf(err, "finding users by email")
	}
	return users, nil
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
	n, err := s.d.Writer().Exec(ctx, query, args...)
	if err != nil {
		return s.errorf(err, "updating %s", what)
	}
	return one(n, nil, what)
}

// CreateRefreshToken implements account.Repo.
func (s *Store) CreateRefreshToken(ctx context.Context, t account.RefreshToken) error {
	return s.insertRefresh(ctx, s.d.Writer(), t)
}

func (s *Store) insertRefresh(ctx context.Context, tx Tx, t account.RefreshToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, family, user_id, issued_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, t.Hash, t.Family, t.UserID, t.IssuedAt, t.ExpiresAt)
	if err != nil {
		return s.errorf(err, "storing a refresh token")
	}
	return nil
}

// RefreshToken implements account.Repo.
func (s *Store) RefreshToken(ctx context.Context, hash []byte) (account.RefreshToken, error) {
	t := account.RefreshToken{Hash: hash}
	err := s.d.Reader().QueryRow(ctx, `SELECT family, user_id, issued_at, expires_at, used_at, revoked_at
		FROM refresh_tokens WHERE hash = $1`, hash).Scan(&t.Family, &t.UserID,
		Time(&t.IssuedAt), Time(&t.ExpiresAt), Time(&t.UsedAt), Time(&t.RevokedAt))
	if err != nil {
		return account.RefreshToken{}, notFound(err, "refresh token")
	}
	return t, nil
}

// RotateRefreshToken implements account.Repo. The conditional UPDATE takes
// the row lock, so of two concurrent rotations the second sees used_at set.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next account.RefreshToken, now time.Time) error {
	return s.d.Write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $1
			WHERE hash = $2 AND used_at IS NULL AND revoked_at IS NULL`, now, oldHash)
		if err != nil {
			return s.errorf(err, "rotating a refresh token")
		}
		if n == 0 {
			return fmt.Errorf("%w: the refresh token was used or revoked meanwhile", store.ErrConflict)
		}
		return s.insertRefresh(ctx, tx, next)
	})
}

// RevokeRefreshFamily implements account.Repo.
func (s *Store) RevokeRefreshFamily(ctx context.Context, family string, now time.Time) error {
	_, err := s.d.Writer().Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL`, now, family)
	if err != nil {
		return s.errorf(err, "revoking refresh tokens")
	}
	return nil
}

const patCols = `id, user_id, name, hint, created_at, expires_at, revoked_at`

func scanPAT(row Row) (p account.PAT, err error) {
	return p, row.Scan(&p.ID, &p.UserID, &p.Name, &p.Hint, Time(&p.CreatedAt), Time(&p.ExpiresAt), Time(&p.RevokedAt))
}

// CreatePAT implements account.Repo.
func (s *Store) CreatePAT(ctx context.Context, p account.PAT, hash []byte) (account.PAT, error) {
	err := s.d.Writer().QueryRow(ctx, `INSERT INTO personal_tokens (user_id, name, hint, hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, p.UserID, p.Name, p.Hint, hash, p.CreatedAt, NullTime(p.ExpiresAt)).Scan(&p.ID)
	if err != nil {
		return account.PAT{}, s.errorf(err, "storing a personal access token for user %d", p.UserID)
	}
	return p, nil
}

// PATByHash implements account.Repo.
func (s *Store) PATByHash(ctx context.Context, hash []byte) (account.PAT, error) {
	p, err := scanPAT(s.d.Reader().QueryRow(ctx, `SELECT `+patCols+` FROM personal_tokens WHERE hash = $1`, hash))
	if err != nil {
		return account.PAT{}, notFound(err, "personal access token")
	}
	return p, nil
}

// PATs implements account.Repo.
func (s *Store) PATs(ctx context.Context, userID int64) ([]account.PAT, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT `+patCols+` FROM personal_tokens WHERE user_id = $1 ORDER BY id`, userID)
	pats, err := collect(rows, err, scanPAT)
	if err != nil {
		return nil, s.errorf(err, "listing personal access tokens")
	}
	return pats, nil
}

// RevokePAT implements account.Repo.
func (s *Store) RevokePAT(ctx context.Context, userID, id int64, now time.Time) error {
	return s.update(ctx, fmt.Sprintf("personal access token %d", id),
		`UPDATE personal_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3`, now, id, userID)
}

// CreateOrg implements account.Repo.
func (s *Store) CreateOrg(ctx context.Context, name string, ownerID int64, now time.Time) (account.Membership, error) {
	m := account.Membership{Tenant: store.Tenant{Name: name, CreatedAt: now}, UserID: ownerID, Role: account.RoleOwner}
	err := s.d.Write(ctx, func(tx Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id`,
			name, now).Scan(&m.Tenant.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)`,
			m.Tenant.ID, ownerID, now)
		return err
	})
	if err != nil {
		return account.Membership{}, s.violation(err, account.ErrNameTaken, fmt.Sprintf("user %d", ownerID), "creating organization %q", name)
	}
	return m, nil
}

// violation maps a broken UNIQUE constraint to unique, a broken foreign
// key to store.ErrNotFound naming missing, any other error to one that
// says what was being done.
func (s *Store) violation(err, unique error, missing, format string, args ...any) error {
	switch v, _ := s.d.Violated(err); v {
	case Unique:
		return unique
	case ForeignKey:
		return fmt.Errorf("%s: %w", missing, store.ErrNotFound)
	}
	return s.errorf(err, format, args...)
}

// AddMember implements account.Repo.
func (s *Store) AddMember(ctx context.Context, tenantID, userID int64, role account.Role, now time.Time) error {
	_, err := s.d.Writer().Exec(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		tenantID, userID, string(role), now)
	if err != nil {
		return s.violation(err, account.ErrAlreadyMember, fmt.Sprintf("user %d or tenant %d", userID, tenantID), "adding user %d to tenant %d", userID, tenantID)
	}
	return nil
}

const membershipQuery = `SELECT t.id, t.name, t.created_at, m.user_id, m.role, u.id IS NOT NULL
	FROM memberships m JOIN tenants t ON t.id = m.tenant_id LEFT JOIN users u ON u.tenant_id = t.id
	WHERE m.user_id = $1`

func scanMembership(row Row) (account.Membership, error) {
	var m account.Membership
	var role string
	err := row.Scan(&m.Tenant.ID, &m.Tenant.Name, Time(&m.Tenant.CreatedAt), &m.UserID, &role, &m.Personal)
	m.Role = account.Role(role)
	return m, err
}

// Membership implements account.Repo.
func (s *Store) Membership(ctx context.Context, userID, tenantID int64) (account.Membership, error) {
	m, err := scanMembership(s.d.Reader().QueryRow(ctx, membershipQuery+` AND m.tenant_id = $2`, userID, tenantID))
	if err != nil {
		return account.Membership{}, notFound(err, fmt.Sprintf("tenant %d", tenantID))
	}
	return m, nil
}

// Memberships implements account.Repo.
func (s *Store) Memberships(ctx context.Context, userID int64) ([]account.Membership, error) {
	rows, err := s.d.Reader().Query(ctx, membershipQuery+` ORDER BY t.id`, userID)
	ms, err := collect(rows, err, scanMembership)
	if err != nil {
		return nil, s.errorf(err, "listing memberships")
	}
	return ms, nil
}

// IdentityUser implements account.Repo.
func (s *Store) IdentityUser(ctx context.Context, provider string, providerUserID int64) (int64, error) {
	var id int64
	err := s.d.Reader().QueryRow(ctx, `SELECT user_id FROM identities WHERE provider = $1 AND provider_user_id = $2`,
		provider, providerUserID).Scan(&id)
	if err != nil {
		return 0, notFound(err, provider+" identity")
	}
	return id, nil
}

// LinkIdentity implements account.Repo.
func (s *Store) LinkIdentity(ctx context.Context, id account.Identity) error {
	err := insertIdentity(ctx, s.d.Writer(), id, id.UserID)
	if err != nil {
		return s.violation(err, account.ErrIdentityLinked, fmt.Sprintf("user %d", id.UserID), "linking a %s identity", id.Provider)
	}
	return nil
}

// UpdateIdentity implements account.Repo.
func (s *Store) UpdateIdentity(ctx context.Context, provider string, providerUserID int64, login, email string) error {
	return s.update(ctx, provider+" identity", `UPDATE identities SET login = $1, email = $2 WHERE provider = $3 AND provider_user_id = $4`,
		login, email, provider, providerUserID)
}

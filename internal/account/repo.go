package account

import (
	"context"
	"time"
)

// NewUser is what Repo.CreateUser stores.
type NewUser struct {
	Username      string // already validated and lower-case
	Email         string // lower-case, or "" for none
	EmailVerified bool
	PasswordHash  string    // "" for an account that logs in only through a provider
	Identity      *Identity // linked in the same transaction when set
	CreatedAt     time.Time
}

// Identity is a provider account linked to a user, keyed on (Provider,
// ProviderUserID). Login and Email are display data from the last login.
type Identity struct {
	Provider       string
	ProviderUserID int64
	UserID         int64
	Login          string
	Email          string
	LinkedAt       time.Time
}

// Repo is the persistence the account service needs. Every method is safe
// for concurrent use and every write is one transaction. Lookups of
// something absent fail with an error wrapping store.ErrNotFound; times are
// given by the caller (the service's clock), never the database's.
type Repo interface {
	// CreateUser stores the user, its personal tenant (named after the
	// username) with the user as owner, and nu.Identity if set. A username
	// or tenant name in use fails with ErrUsernameTaken, an email in use
	// with ErrEmailTaken, a linked identity with ErrIdentityLinked; then
	// nothing is written.
	CreateUser(ctx context.Context, nu NewUser) (User, error)
	// UserByID returns the user.
	UserByID(ctx context.Context, id int64) (User, error)
	// UserByLogin returns the user whose username or email equals login
	// (lower-case), with its password hash ("" when it has none).
	UserByLogin(ctx context.Context, login string) (User, string, error)
	// UsersByEmail returns the users holding email (lower-case): none or one.
	UsersByEmail(ctx context.Context, email string) ([]User, error)
	// SetPasswordHash replaces the user's password hash.
	SetPasswordHash(ctx context.Context, userID int64, hash string) error
	// SetEmailVerified records that the user proved they own their email.
	SetEmailVerified(ctx context.Context, userID int64, verified bool) error

	// CreateRefreshToken stores t.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshToken returns the token with this hash.
	RefreshToken(ctx context.Context, hash []byte) (RefreshToken, error)
	// RotateRefreshToken marks the token oldHash used at now and stores
	// next, only if oldHash is neither used nor revoked; otherwise it
	// writes nothing and fails with store.ErrConflict (it was used
	// meanwhile). Two concurrent rotations of one token: one wins.
	RotateRefreshToken(ctx context.Context, oldHash []byte, next RefreshToken, now time.Time) error
	// RevokeRefreshFamily revokes every token of the family not yet
	// revoked. Revoking twice is harmless.
	RevokeRefreshFamily(ctx context.Context, family string, now time.Time) error

	// CreatePAT stores p with the SHA-256 of its secret and returns it with
	// its ID.
	CreatePAT(ctx context.Context, p PAT, hash []byte) (PAT, error)
	// PATByHash returns the token with this hash, revoked or not.
	PATByHash(ctx context.Context, hash []byte) (PAT, error)
	// PATs returns the user's tokens, revoked ones included, oldest first.
	PATs(ctx context.Context, userID int64) ([]PAT, error)
	// RevokePAT revokes the user's token id. Another user's or an unknown
	// token fails with store.ErrNotFound; revoking twice is harmless.
	RevokePAT(ctx context.Context, userID, id int64, now time.Time) error

	// CreateOrg stores an organization tenant with ownerID as its owner. A
	// name in use fails with ErrNameTaken; an unknown owner with
	// store.ErrNotFound.
	CreateOrg(ctx context.Context, name string, ownerID int64, now time.Time) (Membership, error)
	// AddMember adds userID to the tenant. An existing member fails with
	// ErrAlreadyMember; an unknown user or tenant with store.ErrNotFound.
	AddMember(ctx context.Context, tenantID, userID int64, role Role, now time.Time) error
	// Membership returns the user's membership of the tenant; not a member
	// (or no such tenant) fails with store.ErrNotFound.
	Membership(ctx context.Context, userID, tenantID int64) (Membership, error)
	// Memberships returns every tenant the user belongs to, by tenant id.
	Memberships(ctx context.Context, userID int64) ([]Membership, error)

	// IdentityUser returns the user linked to the identity.
	IdentityUser(ctx context.Context, provider string, providerUserID int64) (int64, error)
	// LinkIdentity links id to id.UserID. An identity already linked fails
	// with ErrIdentityLinked.
	LinkIdentity(ctx context.Context, id Identity) error
	// UpdateIdentity records the login and email seen at the last login.
	UpdateIdentity(ctx context.Context, provider string, providerUserID int64, login, email string) error
}

// Package account holds users, their passwords and tokens, and the tenants
// they belong to. Service is the logic; Repo is the persistence it needs,
// implemented by store/sqlite and store/postgres and checked by the shared
// suite in store/storetest.
//
// Secrets (passwords, tokens, their hashes) never appear in a returned
// error, a log line, or a type other than Tokens and the string returned
// by CreatePAT.
package account

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/runbookhq/runbook/internal/store"
)

// Role is a member's role in a tenant.
type Role string

// The roles. Owners add members; members use the tenant's runs.
const (
	RoleOwner  Role = "owner"
	RoleMember Role = "member"
)

// User is an account, without its credentials.
type User struct {
	ID            int64
	Username      string
	Email         string // lower-case; "" when the account has none
	EmailVerified bool
	TenantID      int64 // the personal tenant, named after Username
	CreatedAt     time.Time
}

// Membership is a user's place in a tenant.
type Membership struct {
	Tenant   store.Tenant
	UserID   int64
	Role     Role
	Personal bool // the user's own tenant, not an organization
}

// Principal is who a request comes from, however it authenticated.
type Principal struct {
	UserID   int64
	Username string
	Via      string // ViaAccessToken or ViaPAT
	PATID    int64  // the personal access token used, when Via is ViaPAT
}

// How a Principal authenticated.
const (
	ViaAccessToken = "access_token"
	ViaPAT         = "pat"
)

// Tokens is what a login or a refresh hands the client. It is the only
// type that carries secrets; it redacts them when printed or logged.
type Tokens struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// String keeps the tokens out of anything that prints a Tokens.
func (t Tokens) String() string {
	return fmt.Sprintf("Tokens{access until %s, refresh until %s}",
		t.AccessExpiresAt.Format(time.RFC3339), t.RefreshExpiresAt.Format(time.RFC3339))
}

// LogValue keeps the tokens out of slog output.
func (t Tokens) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("access_expires", t.AccessExpiresAt), slog.Time("refresh_expires", t.RefreshExpiresAt))
}

// PAT is a personal access token as listed: never its secret.
type PAT struct {
	ID        int64
	UserID    int64
	Name      string
	Hint      string // the first characters of the token, to recognise it in a list
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never expires
	RevokedAt time.Time // zero: not revoked
}

// RefreshToken is a stored refresh token: its SHA-256, never the token.
type RefreshToken struct {
	Hash      []byte
	Family    string // every token rotated from one login shares it
	UserID    int64
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until rotated
	RevokedAt time.Time // zero unless its family was revoked
}

// Errors. Those a person sees say what to do; test with errors.Is.
var (
	// ErrBadCredentials is every failed password login, whatever failed,
	// so that nobody learns which accounts exist.
	ErrBadCredentials = errors.New("wrong username/email or password")
	// ErrRateLimited wraps a *RateLimitError.
	ErrRateLimited = errors.New("too many failed logins")
	// ErrUnauthenticated: a missing, malformed, forged, expired or revoked
	// token. The wrapping error says which of expired/revoked/invalid.
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrTokenReused: an already rotated refresh token came back, so it was
	// stolen or replayed; its whole family is now revoked.
	ErrTokenReused = fmt.Errorf("%w: this refresh token was already used, so every session from the same login was ended; log in again", ErrUnauthenticated)
	// ErrInvalid: input that can never succeed as given.
	ErrInvalid = store.ErrInvalid
	// ErrForbidden: the caller is a member but lacks the role.
	ErrForbidden = errors.New("forbidden")

	ErrUsernameTaken = fmt.Errorf("%w: that username is taken", store.ErrConflict)
	ErrNameTaken     = fmt.Errorf("%w: that name is taken by a user or an organization", store.ErrConflict)
	ErrEmailTaken    = fmt.Errorf("%w: an account with that email already exists; log in to it instead", store.ErrConflict)
	ErrAlreadyMember = fmt.Errorf("%w: the user is already a member", store.ErrConflict)
	// ErrIdentityLinked: the provider identity belongs to an account already.
	ErrIdentityLinked = fmt.Errorf("%w: that provider account is already linked", store.ErrConflict)
)

// RateLimitError says when a rate-limited login may be tried again.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed logins: try again in %s", e.RetryAfter.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

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
	"fmt"
	"log/slog"
	"time"

	"github.com/runbookhq/runbook/internal/failure"
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

// Errors, defined in package failure (see there what each means) and
// named here for the account service's callers.
var (
	ErrBadCredentials  = failure.ErrBadCredentials
	ErrRateLimited     = failure.ErrRateLimited
	ErrUnauthenticated = failure.ErrUnauthenticated
	ErrTokenReused     = failure.ErrTokenReused
	ErrInvalid         = failure.ErrInvalid
	ErrForbidden       = failure.ErrForbidden
	ErrUsernameTaken   = failure.ErrUsernameTaken
	ErrNameTaken       = failure.ErrNameTaken
	ErrEmailTaken      = failure.ErrEmailTaken
	ErrAlreadyMember   = failure.ErrAlreadyMember
	ErrIdentityLinked  = failure.ErrIdentityLinked
)

// RateLimitError says when a rate-limited login may be tried again.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed logins: try again in %s", e.RetryAfter.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

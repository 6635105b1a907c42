// Package failure holds the kinds of failure every layer agrees on: the
// sentinel errors a store, the account service and the GitHub App return,
// and that the HTTP layer maps to answers (internal/server's error table).
// It imports nothing, so any package may name them without depending on
// the one that returns them. Wrap them with context; test with errors.Is.
package failure

import (
	"errors"
	"fmt"
)

// Kinds of failure of stored objects.
var (
	// ErrNotFound: the object does not exist, or it belongs to another
	// tenant. The two are deliberately indistinguishable.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write collides with existing state (a duplicate
	// name, a command claimed by another owner). Re-read before retrying.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input can never succeed as given (a workflow that does
	// not parse, a malformed cursor, a negative limit). Do not retry.
	ErrInvalid = errors.New("invalid input")
	// ErrRejected: the engine refused the event (unknown step or event
	// kind). Nothing was written.
	ErrRejected = errors.New("event rejected by the engine")
)

// Failures of accounts and sign-in. Those a person sees say what to do.
var (
	// ErrBadCredentials is every failed password login, whatever failed,
	// so that nobody learns which accounts exist.
	ErrBadCredentials = errors.New("wrong username/email or password")
	// ErrRateLimited: too many failed logins; account.RateLimitError says
	// when to try again.
	ErrRateLimited = errors.New("too many failed logins")
	// ErrUnauthenticated: a missing, malformed, forged, expired or revoked
	// token. The wrapping error says which of expired/revoked/invalid.
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrTokenReused: an already rotated refresh token came back, so it was
	// stolen or replayed; its whole family is now revoked.
	ErrTokenReused = fmt.Errorf("%w: this refresh token was already used, so every session from the same login was ended; log in again", ErrUnauthenticated)
	// ErrForbidden: the caller is a member but lacks the role.
	ErrForbidden = errors.New("forbidden")

	ErrUsernameTaken = fmt.Errorf("%w: that username is taken", ErrConflict)
	ErrNameTaken     = fmt.Errorf("%w: that name is taken by a user or an organization", ErrConflict)
	ErrEmailTaken    = fmt.Errorf("%w: an account with that email already exists; log in to it instead", ErrConflict)
	ErrAlreadyMember = fmt.Errorf("%w: the user is already a member", ErrConflict)
	// ErrIdentityLinked: the provider identity belongs to an account already.
	ErrIdentityLinked = fmt.Errorf("%w: that provider account is already linked", ErrConflict)
)

// Package forge holds the contracts between Runbook and the code forges
// (GitHub, GitLab, …). This file is the login contract: a LoginProvider
// turns an OAuth 2.0 authorization code into an Identity, and Flow wraps it
// with the CSRF state and PKCE checks that every provider needs.
//
// A new provider implements LoginProvider and nothing else; embedding OAuth2
// gives it AuthCodeURL and Exchange, so only Name and UserInfo remain.
package forge

import (
	"context"

	"golang.org/x/oauth2"
)

// Identity is who the provider says the user is.
//
// (Provider, UserID) is the key of an identity: it never changes for a
// user, while Login, Name and Email can change at any time on the provider
// and must be treated as display data. Never look an identity up by Login.
type Identity struct {
	Provider  string // LoginProvider.Name(), e.g. "github"
	UserID    int64  // the provider's numeric user id; always > 0
	Login     string // username at the time of login
	Name      string
	AvatarURL string

	// Email is the user's primary email, or "" when the provider gave none.
	// EmailVerified is true only when the provider itself says that the user
	// proved they own it (see each provider's package doc for the source).
	// Only a verified email may link an identity to an existing account; see
	// DecideLink.
	Email         string
	EmailVerified bool
}

// LoginProvider is one forge's side of the OAuth 2.0 authorization-code
// login with PKCE (RFC 6749 §4.1, RFC 7636).
//
// Implementations are safe for concurrent use and keep no per-login state:
// the state and the PKCE verifier travel in the caller's State.
type LoginProvider interface {
	// Name is the stable, lower-case provider name stored in Identity and
	// State ("github", "gitlab"). Two configured providers must not share it.
	Name() string

	// AuthCodeURL returns the provider's authorize URL that the browser is
	// sent to. It carries state unchanged and the S256 codeChallenge; it
	// does no I/O and cannot fail. Calling it twice with the same arguments
	// returns the same URL.
	AuthCodeURL(state, codeChallenge string) string

	// Exchange trades an authorization code for a token at the provider's
	// token endpoint, sending codeVerifier for PKCE. A code is single-use:
	// a second Exchange of the same code fails. Errors wrap one of
	// ErrCodeRejected (bad, expired or reused code, wrong verifier, redirect
	// URL mismatch), ErrClientRejected (client id or secret wrong) or
	// ErrProviderUnavailable (network, 5xx, unreadable answer), and never
	// contain the code, the verifier, a token or the client secret.
	Exchange(ctx context.Context, code, codeVerifier string) (*oauth2.Token, error)

	// UserInfo reads the user the token belongs to. It returns an Identity
	// with Provider and UserID set, or an error wrapping ErrTokenRejected
	// (the provider refused the token) or ErrProviderUnavailable. A missing
	// or unreadable email is not an error: Email is "" and EmailVerified false.
	// Errors never contain the token.
	UserInfo(ctx context.Context, tok *oauth2.Token) (Identity, error)
}

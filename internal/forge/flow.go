package forge

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// DefaultLoginTTL bounds how long a user may take on the provider's page.
const DefaultLoginTTL = 10 * time.Minute

// State is what Begin hands to the HTTP layer and Finish gets back: it must
// travel in a cookie that is HttpOnly, Secure, SameSite=Lax and scoped to
// the callback path. Verifier is a secret (it proves that whoever redeems
// the code started the login), so the cookie must be encrypted, or hold
// only a key to server-side storage. A State is used once.
type State struct {
	Provider string    `json:"p"`
	Value    string    `json:"s"` // the random CSRF value sent as ?state=
	Verifier string    `json:"v"` // the PKCE code_verifier
	Expires  time.Time `json:"e"`
}

// Flow runs the authorization-code login of one provider. It is safe for
// concurrent use; all per-login data is in State.
type Flow struct {
	Provider LoginProvider
	TTL      time.Duration    // zero means DefaultLoginTTL
	Now      func() time.Time // nil means time.Now; set by tests
}

// NewFlow returns a Flow for p with the default TTL.
func NewFlow(p LoginProvider) *Flow { return &Flow{Provider: p} }

func (f *Flow) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Begin starts a login: it draws a fresh random state (CSRF) and PKCE
// verifier, and returns the provider URL to redirect the browser to and the
// State to keep in the browser's login cookie. Each call is independent.
func (f *Flow) Begin() (authURL string, st State) {
	ttl := f.TTL
	if ttl <= 0 {
		ttl = DefaultLoginTTL
	}
	st = State{
		Provider: f.Provider.Name(),
		Value:    rand.Text(), // 26 base32 characters, 130 bits
		Verifier: oauth2.GenerateVerifier(),
		Expires:  f.now().Add(ttl),
	}
	return f.Provider.AuthCodeURL(st.Value, oauth2.S256ChallengeFromVerifier(st.Verifier)), st
}

// Finish completes a login from the provider's callback: stored is the
// State from the cookie, gotState and code the callback's query values (see
// ParseCallback). It checks the state in constant time and the expiry before
// any network call, then exchanges the code with the PKCE verifier and reads
// the user. The caller must delete the cookie whatever the result.
//
// Errors wrap ErrNoLogin, ErrWrongProvider, ErrStateMismatch, ErrLoginExpired,
// ErrMissingCode, ErrInvalidIdentity, or a provider's errors (see
// LoginProvider); none contains the code, verifier, tokens or secrets.
func (f *Flow) Finish(ctx context.Context, stored State, gotState, code string) (Identity, error) {
	id, _, err := f.FinishWithToken(ctx, stored, gotState, code)
	return id, err
}

// FinishWithToken is Finish that also returns the user's token, for callers
// that act as the user afterwards (a GitHub App's user-to-server token).
// The token is a credential: store it encrypted, never log it.
func (f *Flow) FinishWithToken(ctx context.Context, stored State, gotState, code string) (Identity, *oauth2.Token, error) {
	name := f.Provider.Name()
	wrap := func(err error) error { return fmt.Errorf("%s login: %w", name, err) }
	switch {
	case stored.Value == "" || stored.Verifier == "":
		return Identity{}, nil, wrap(ErrNoLogin)
	case stored.Provider != name:
		return Identity{}, nil, wrap(ErrWrongProvider)
	case subtle.ConstantTimeCompare([]byte(stored.Value), []byte(gotState)) != 1:
		return Identity{}, nil, wrap(ErrStateMismatch)
	case !f.now().Before(stored.Expires):
		return Identity{}, nil, wrap(ErrLoginExpired)
	case code == "":
		return Identity{}, nil, wrap(ErrMissingCode)
	}
	tok, err := f.Provider.Exchange(ctx, code, stored.Verifier)
	if err != nil {
		return Identity{}, nil, err
	}
	id, err := f.Provider.UserInfo(ctx, tok)
	if err != nil {
		return Identity{}, nil, err
	}
	if id.UserID <= 0 {
		return Identity{}, nil, wrap(ErrInvalidIdentity)
	}
	id.Provider = name
	return id, tok, nil
}

// ParseCallback reads the provider's redirect back to Runbook. A user who
// refused on the provider's page gives ErrAccessDenied; another provider
// error gives a *ProviderError. The query is attacker-controlled: the
// returned values are only ever compared, never trusted.
func ParseCallback(provider string, q url.Values) (state, code string, err error) {
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return "", "", fmt.Errorf("%s login: %w", provider, ErrAccessDenied)
		}
		return "", "", &ProviderError{Provider: provider, Kind: ErrAuthorizeRejected,
			Code: Redact(e), Description: Redact(q.Get("error_description"))}
	}
	return q.Get("state"), q.Get("code"), nil
}

package forge

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a login can end with. Each is wrapped with the provider's name and
// detail; test with errors.Is. Their texts are safe to show to the user.
var (
	ErrNoLogin           = errors.New("no login in progress in this browser (the login cookie is missing); start the login again")
	ErrWrongProvider     = errors.New("the login in progress was started with another provider; start the login again")
	ErrStateMismatch     = errors.New("the login callback does not match the login this browser started (an old tab, or a forged link); start the login again")
	ErrLoginExpired      = errors.New("the login took too long and expired; start the login again")
	ErrMissingCode       = errors.New("the provider's callback carries no authorization code; start the login again")
	ErrAccessDenied      = errors.New("the login was cancelled on the provider's page")
	ErrAuthorizeRejected = errors.New("the provider refused the login request; check the OAuth app's callback URL and scopes against the server configuration")
	ErrInvalidIdentity   = errors.New("the provider returned a user without a numeric id")

	ErrCodeRejected        = errors.New("the provider rejected the authorization code or its PKCE verifier (expired, already used, or issued for another redirect URL); start the login again")
	ErrClientRejected      = errors.New("the provider rejected Runbook's OAuth client id or secret; check them in the server configuration against the OAuth app on the provider")
	ErrTokenRejected       = errors.New("the provider rejected the access token it just issued; check that the OAuth app has the scopes or permissions to read the user")
	ErrProviderUnavailable = errors.New("the provider could not be reached or gave an unreadable answer; try again later")
)

// ProviderError is an error reported by a provider: its category (one of the
// errors above), the provider's OAuth error code, and a description with
// every secret of the request removed.
type ProviderError struct {
	Provider    string
	Kind        error  // ErrCodeRejected, ErrClientRejected, …
	Code        string // the provider's "error" value, e.g. "invalid_grant"
	Description string // the provider's words, redacted and shortened
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s login: %v", e.Provider, e.Kind)
	if e.Code != "" || e.Description != "" {
		b.WriteString(" [provider said: ")
		b.WriteString(strings.TrimSpace(e.Code + " " + e.Description))
		b.WriteString("]")
	}
	return b.String()
}

func (e *ProviderError) Unwrap() error { return e.Kind }

// Redact replaces every non-empty secret in s with "[redacted]" and cuts s
// to a length fit for one log line. Providers use it on any text that comes
// back from the network, because some echo request parameters.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	const max = 300
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

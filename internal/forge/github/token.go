package github

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v93/github"
)

// Token is a secret credential. It prints, logs and marshals as
// "[redacted]"; only Reveal gives its text, to put in a request.
type Token struct{ s string }

const redacted = "[redacted]"

// Reveal returns the token's text.
func (t Token) Reveal() string                { return t.s }
func (t Token) IsZero() bool                  { return t.s == "" }
func (t Token) String() string                { return redacted }
func (t Token) GoString() string              { return `github.Token("[redacted]")` }
func (t Token) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (t Token) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (t Token) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// MaxTokenLen bounds what Runbook stores of a token: GitHub documents
// tokens as opaque, and its newer format is about 520 characters.
const MaxTokenLen = 1024

// Scope narrows an installation token. The zero Scope asks for every
// repository and permission of the installation.
type Scope struct {
	Repositories []string          // repository names, without the owner
	Permissions  map[string]string // e.g. {"contents": "read"}
}

// ReadRepo is the scope a run needs to fetch and clone one repository.
func ReadRepo(name string) Scope {
	return Scope{Repositories: []string{name}, Permissions: map[string]string{"contents": "read"}}
}

func (s Scope) key(id int64) string {
	repos := slices.Clone(s.Repositories)
	slices.Sort(repos)
	perms := make([]string, 0, len(s.Permissions))
	for k, v := range s.Permissions {
		perms = append(perms, k+"="+v)
	}
	slices.Sort(perms)
	return fmt.Sprintf("%d|%s|%s", id, strings.Join(repos, ","), strings.Join(perms, ","))
}

// InstallationToken is a token for one installation and its expiry.
type InstallationToken struct {
	Token     Token
	ExpiresAt time.Time
}

// tokenRenew: a cached token is used until this long before it expires,
// so that a step given it has time to clone.
const tokenRenew = 5 * time.Minute

type tokenEntry struct {
	mu  sync.Mutex // held while fetching, so concurrent callers make one POST
	tok InstallationToken
}

// InstallationToken returns a token of installation id narrowed to scope,
// from the cache while it has more than 5 minutes left.
func (a *App) InstallationToken(ctx context.Context, id int64, scope Scope) (InstallationToken, error) {
	key := scope.key(id)
	a.tokMu.Lock()
	e := a.toks[key]
	if e == nil {
		e = &tokenEntry{}
		a.toks[key] = e
	}
	a.tokMu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.tok.Token.IsZero() && a.now().Before(e.tok.ExpiresAt.Add(-tokenRenew)) {
		return e.tok, nil
	}
	tok, err := a.createToken(ctx, id, scope)
	if err != nil {
		return InstallationToken{}, err
	}
	e.tok = tok
	return tok, nil
}

// forget drops a cached token that GitHub no longer accepts (revoked).
func (a *App) forget(id int64, scope Scope) {
	a.tokMu.Lock()
	delete(a.toks, scope.key(id))
	a.tokMu.Unlock()
}

func (a *App) createToken(ctx context.Context, id int64, scope Scope) (InstallationToken, error) {
	jwtText, err := a.JWT()
	if err != nil {
		return InstallationToken{}, err
	}
	body := map[string]any{}
	if len(scope.Repositories) > 0 {
		body["repositories"] = scope.Repositories
	}
	if len(scope.Permissions) > 0 {
		body["permissions"] = scope.Permissions
	}
	c := a.client(jwtText)
	req, err := c.NewRequest(ctx, http.MethodPost, fmt.Sprintf("app/installations/%d/access_tokens", id), body)
	if err != nil {
		return InstallationToken{}, unavailable("POST access_tokens", err, jwtText)
	}
	var t gh.InstallationToken
	if _, err := c.Do(req, &t); err != nil {
		switch code, msg := status(err); {
		case code == http.StatusNotFound:
			return InstallationToken{}, notInstalled(id)
		case code == http.StatusForbidden && strings.Contains(strings.ToLower(msg), "suspended"):
			return InstallationToken{}, suspended(id)
		case code == http.StatusUnprocessableEntity:
			return InstallationToken{}, &AppError{Kind: ErrNotInstalled, Msg: fmt.Sprintf("installation %d cannot reach repositories %v with permissions %v (GitHub said %q); add the repository to the installation or grant the permission", id, scope.Repositories, scope.Permissions, redact(msg, jwtText))}
		}
		return InstallationToken{}, a.jwtError("POST /app/installations/{id}/access_tokens", err, jwtText)
	}
	text := t.GetToken()
	if text == "" || len(text) > MaxTokenLen {
		return InstallationToken{}, &AppError{Kind: ErrUnavailable, Msg: fmt.Sprintf("github app: installation %d: GitHub returned a token of %d characters; expected 1 to %d", id, len(text), MaxTokenLen)}
	}
	tok := InstallationToken{Token: Token{text}, ExpiresAt: t.GetExpiresAt().Time}
	a.log.Debug("github app: installation token issued", "installation", id, "expires_at", tok.ExpiresAt, "token", tok.Token)
	return tok, nil
}

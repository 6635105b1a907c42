// Package gitlab is the GitLab login provider (gitlab.com or self-managed).
//
// The identity comes from GET /api/v4/user with the read_user scope. Email
// is the user's primary email and EmailVerified means confirmed_at is set:
// GitLab keeps a changed primary email in unconfirmed_email until it is
// confirmed, so "email" with confirmed_at is an address the user proved.
// We use the REST user rather than the OIDC userinfo endpoint so that one
// scope and one call give the numeric id, which is our key.
package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/oauth2"

	"github.com/runbookhq/runbook/internal/forge"
)

// Config of a GitLab login. Only the client id, secret and redirect URL
// are required for gitlab.com.
type Config struct {
	ClientID     string // the application's "Application ID"
	ClientSecret string
	RedirectURL  string // Runbook's callback, as registered on the application

	// BaseURL is GitLab's address, including a relative URL root if any:
	// "https://gitlab.com/" (default) or e.g. "https://git.example.com/gitlab/".
	// OAuth lives at BaseURL+"oauth/", the API at BaseURL+"api/v4/".
	BaseURL string
	// Scopes default to read_user.
	Scopes []string
	// HTTPClient is used for every request; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Provider implements forge.LoginProvider for GitLab.
type Provider struct {
	forge.OAuth2
	baseURL string
}

var _ forge.LoginProvider = (*Provider)(nil)

// New checks cfg and returns the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.RedirectURL == "" {
		return nil, errors.New("gitlab login: client id, client secret and redirect URL are all required (from the application's settings on GitLab)")
	}
	base := cfg.BaseURL
	if base == "" {
		base = "https://gitlab.com/"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("gitlab login: base URL %q is not an absolute http(s) URL like https://gitlab.example.com/", base)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	scopes := cfg.Scopes
	if scopes == nil {
		scopes = []string{"read_user"}
	}
	return &Provider{
		OAuth2: forge.OAuth2{
			ProviderName: "gitlab",
			HTTPClient:   cfg.HTTPClient,
			Config: oauth2.Config{
				ClientID:     cfg.ClientID,
				ClientSecret: cfg.ClientSecret,
				RedirectURL:  cfg.RedirectURL,
				Scopes:       scopes,
				Endpoint: oauth2.Endpoint{
					AuthURL:   base + "oauth/authorize",
					TokenURL:  base + "oauth/token",
					AuthStyle: oauth2.AuthStyleInHeader, // RFC 6749's preferred form; GitLab takes both
				},
			},
		},
		baseURL: base,
	}, nil
}

// Name implements forge.LoginProvider.
func (p *Provider) Name() string { return "gitlab" }

// UserInfo implements forge.LoginProvider.
func (p *Provider) UserInfo(ctx context.Context, tok *oauth2.Token) (forge.Identity, error) {
	// No retries: a person is waiting on the login page and can try again.
	opts := []gl.ClientOptionFunc{gl.WithBaseURL(p.baseURL), gl.WithoutRetries()}
	if p.HTTPClient != nil {
		opts = append(opts, gl.WithHTTPClient(p.HTTPClient))
	}
	src := gl.OAuthTokenSource{TokenSource: oauth2.StaticTokenSource(tok)}
	c, err := gl.NewAuthSourceClient(src, opts...)
	if err != nil {
		return forge.Identity{}, fmt.Errorf("gitlab login: configuring the API client: %s", forge.Redact(err.Error(), tok.AccessToken))
	}
	u, resp, err := c.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		kind := forge.ErrProviderUnavailable
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			kind = forge.ErrTokenRejected
		}
		return forge.Identity{}, &forge.ProviderError{Provider: "gitlab", Kind: kind,
			Description: "GET /api/v4/user: " + forge.Redact(err.Error(), tok.AccessToken)}
	}
	return forge.Identity{
		Provider:      "gitlab",
		UserID:        u.ID,
		Login:         u.Username,
		Name:          u.Name,
		AvatarURL:     u.AvatarURL,
		Email:         u.Email,
		EmailVerified: u.Email != "" && u.ConfirmedAt != nil,
	}, nil
}

// Package github is the GitHub login provider: an OAuth app, or a GitHub
// App's user authorization (same endpoints; the App needs the "Email
// addresses: read" account permission instead of scopes).
//
// The identity comes from GET /user (numeric id, login, name, avatar) and
// GET /user/emails: Email is the primary address and EmailVerified its
// "verified" flag. The public email of /user is never used for linking.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	gh "github.com/google/go-github/v93/github"
	"golang.org/x/oauth2"

	"github.com/runbookhq/runbook/internal/forge"
)

// Config of a GitHub login. Only the client id, secret and redirect URL
// are required for github.com.
type Config struct {
	ClientID     string
	ClientSecret string
	RedirectURL  string // Runbook's callback, as registered on the OAuth app

	// BaseURL is GitHub's web address, where /login/oauth lives:
	// "https://github.com/" (default) or "https://HOST/" for Enterprise Server.
	BaseURL string
	// APIURL is the REST API base; by default https://api.github.com/ for
	// github.com and BaseURL + "api/v3/" for any other host.
	APIURL string
	// Scopes default to read:user and user:email (ignored by GitHub Apps).
	Scopes []string
	// HTTPClient is used for every request; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Provider implements forge.LoginProvider for GitHub.
type Provider struct {
	forge.OAuth2
	apiURL string
}

var _ forge.LoginProvider = (*Provider)(nil)

// New checks cfg and returns the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.RedirectURL == "" {
		return nil, errors.New("github login: client id, client secret and redirect URL are all required (from the OAuth app's settings on GitHub)")
	}
	web, err := baseURL("base URL", cfg.BaseURL, "https://github.com/")
	if err != nil {
		return nil, err
	}
	defAPI := web + "api/v3/"
	if u, _ := url.Parse(web); u.Host == "github.com" {
		defAPI = "https://api.github.com/"
	}
	api, err := baseURL("API URL", cfg.APIURL, defAPI)
	if err != nil {
		return nil, err
	}
	scopes := cfg.Scopes
	if scopes == nil {
		scopes = []string{"read:user", "user:email"}
	}
	return &Provider{
		OAuth2: forge.OAuth2{
			ProviderName: "github",
			HTTPClient:   cfg.HTTPClient,
			Config: oauth2.Config{
				ClientID:     cfg.ClientID,
				ClientSecret: cfg.ClientSecret,
				RedirectURL:  cfg.RedirectURL,
				Scopes:       scopes,
				Endpoint: oauth2.Endpoint{
					AuthURL:   web + "login/oauth/authorize",
					TokenURL:  web + "login/oauth/access_token",
					AuthStyle: oauth2.AuthStyleInParams, // what GitHub documents
				},
			},
		},
		apiURL: api,
	}, nil
}

// baseURL validates an absolute http(s) URL and gives it a trailing slash.
func baseURL(what, s, def string) (string, error) {
	if s == "" {
		s = def
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("github login: %s %q is not an absolute http(s) URL like https://github.example.com/", what, s)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

// Name implements forge.LoginProvider.
func (p *Provider) Name() string { return "github" }

// UserInfo implements forge.LoginProvider.
func (p *Provider) UserInfo(ctx context.Context, tok *oauth2.Token) (forge.Identity, error) {
	opts := []gh.ClientOptionsFunc{gh.WithAuthToken(tok.AccessToken), gh.WithURLs(&p.apiURL, &p.apiURL)}
	if p.HTTPClient != nil {
		opts = append(opts, gh.WithHTTPClient(p.HTTPClient))
	}
	c, err := gh.NewClient(opts...)
	if err != nil {
		return forge.Identity{}, fmt.Errorf("github login: configuring the API client: %s", forge.Redact(err.Error(), tok.AccessToken))
	}
	u, _, err := c.Users.Get(ctx, "")
	if err != nil {
		return forge.Identity{}, apiError("GET /user", err, tok.AccessToken)
	}
	id := forge.Identity{Provider: "github", UserID: u.GetID(), Login: u.GetLogin(),
		Name: u.GetName(), AvatarURL: u.GetAvatarURL()}
	emails, _, err := c.Users.ListEmails(ctx, &gh.ListOptions{PerPage: 100})
	var er *gh.ErrorResponse
	switch {
	case errors.As(err, &er) && er.Response != nil && (er.Response.StatusCode == http.StatusForbidden || er.Response.StatusCode == http.StatusNotFound):
		// The token may not see emails (scope or App permission missing):
		// log in without an email rather than refuse.
		return id, nil
	case err != nil:
		return forge.Identity{}, apiError("GET /user/emails", err, tok.AccessToken)
	}
	for _, e := range emails {
		if e.GetPrimary() {
			id.Email, id.EmailVerified = e.GetEmail(), e.GetVerified()
		}
	}
	return id, nil
}

// apiError names the call and the category; go-github's own text (URL,
// status, message) carries no token, but is redacted all the same.
func apiError(call string, err error, token string) error {
	kind := forge.ErrProviderUnavailable
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusUnauthorized {
		kind = forge.ErrTokenRejected
	}
	return &forge.ProviderError{Provider: "github", Kind: kind, Description: call + ": " + forge.Redact(err.Error(), token)}
}

package github

import (
	"context"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/forge"
	"github.com/runbookhq/runbook/internal/forge/forgetest"
)

func provider(t testing.TB, cfg Config) *Provider {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// GitHub Enterprise Server: only the base URL is configured, the API is
// found under /api/v3/ on the same host.
func TestLoginEnterprise(t *testing.T) {
	forgetest.Suite{
		Flavor:  forgetest.GitHub,
		Options: forgetest.Options{APIPrefix: "/api/v3/"},
		New: func(t testing.TB, srv *forgetest.Server, secret string) forge.LoginProvider {
			return provider(t, Config{ClientID: srv.Opts.ClientID, ClientSecret: secret,
				RedirectURL: srv.Opts.RedirectURL, BaseURL: srv.WebURL()})
		},
	}.Run(t)
}

// github.com's shape: the API at the root of its own base URL.
func TestLoginSeparateAPIURL(t *testing.T) {
	forgetest.Suite{
		Flavor:  forgetest.GitHub,
		Options: forgetest.Options{APIPrefix: "/"},
		New: func(t testing.TB, srv *forgetest.Server, secret string) forge.LoginProvider {
			return provider(t, Config{ClientID: srv.Opts.ClientID, ClientSecret: secret,
				RedirectURL: srv.Opts.RedirectURL, BaseURL: srv.WebURL(), APIURL: srv.APIURL()})
		},
	}.Run(t)
}

func TestEnterpriseURLsAreUsed(t *testing.T) {
	srv := forgetest.NewGitHub(t, forgetest.Options{})
	srv.PutUser(forgetest.Alice)
	srv.LogIn(forgetest.Alice.ID)
	p := provider(t, Config{ClientID: srv.Opts.ClientID, ClientSecret: srv.Opts.ClientSecret,
		RedirectURL: srv.Opts.RedirectURL, BaseURL: srv.URL}) // no trailing slash
	f := forge.NewFlow(p)
	authURL, st := f.Begin()
	if !strings.HasPrefix(authURL, srv.URL+"/login/oauth/authorize?") {
		t.Fatalf("authorize URL %s is not on the configured host", authURL)
	}
	q := forgetest.Authorize(t, authURL).Query()
	if _, err := f.Finish(context.Background(), st, q.Get("state"), q.Get("code")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/login/oauth/access_token", "/api/v3/user", "/api/v3/user/emails"} {
		if srv.Calls(path) != 1 {
			t.Errorf("%s called %d times, want 1", path, srv.Calls(path))
		}
	}
}

func TestDefaultsAreGitHubCom(t *testing.T) {
	p := provider(t, Config{ClientID: "id", ClientSecret: "s", RedirectURL: "https://ci.example.com/cb"})
	if got := p.AuthCodeURL("st", "ch"); !strings.HasPrefix(got, "https://github.com/login/oauth/authorize?") ||
		!strings.Contains(got, "scope=read%3Auser+user%3Aemail") {
		t.Errorf("AuthCodeURL = %s", got)
	}
	if p.apiURL != "https://api.github.com/" {
		t.Errorf("API URL = %s, want https://api.github.com/", p.apiURL)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{ClientID: "id", RedirectURL: "https://ci/cb"},
		{ClientID: "id", ClientSecret: "s3cr3t", RedirectURL: "https://ci/cb", BaseURL: "github.example.com"},
		{ClientID: "id", ClientSecret: "s3cr3t", RedirectURL: "https://ci/cb", APIURL: "ftp://x/"},
	} {
		_, err := New(cfg)
		if err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
			continue
		}
		forgetest.NoSecrets(t, err, "s3cr3t")
	}
}

// Without access to /user/emails the login still works, with no email to
// link by.
func TestEmailsForbiddenLogsInWithoutEmail(t *testing.T) {
	srv := forgetest.NewGitHub(t, forgetest.Options{EmailsForbidden: true})
	srv.PutUser(forgetest.Alice)
	srv.LogIn(forgetest.Alice.ID)
	f := forge.NewFlow(provider(t, Config{ClientID: srv.Opts.ClientID, ClientSecret: srv.Opts.ClientSecret,
		RedirectURL: srv.Opts.RedirectURL, BaseURL: srv.WebURL()}))
	authURL, st := f.Begin()
	q := forgetest.Authorize(t, authURL).Query()
	id, err := f.Finish(context.Background(), st, q.Get("state"), q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != forgetest.Alice.ID || id.Email != "" || id.EmailVerified {
		t.Fatalf("identity = %+v, want Alice without an email", id)
	}
	if srv.Calls("/api/v3/user/emails") != 1 {
		t.Fatalf("/user/emails was not asked")
	}
}

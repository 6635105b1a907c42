package gitlab

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

func TestLogin(t *testing.T) {
	forgetest.Suite{
		Flavor: forgetest.GitLab,
		New: func(t testing.TB, srv *forgetest.Server, secret string) forge.LoginProvider {
			return provider(t, Config{ClientID: srv.Opts.ClientID, ClientSecret: secret,
				RedirectURL: srv.Opts.RedirectURL, BaseURL: srv.WebURL()})
		},
	}.Run(t)
}

// A self-managed GitLab under a relative URL root.
func TestLoginSelfManagedSubpath(t *testing.T) {
	forgetest.Suite{
		Flavor:  forgetest.GitLab,
		Options: forgetest.Options{Prefix: "/gitlab"},
		New: func(t testing.TB, srv *forgetest.Server, secret string) forge.LoginProvider {
			return provider(t, Config{ClientID: srv.Opts.ClientID, ClientSecret: secret,
				RedirectURL: srv.Opts.RedirectURL, BaseURL: srv.WebURL()})
		},
	}.Run(t)
}

func TestSelfManagedURLsAreUsed(t *testing.T) {
	srv := forgetest.NewGitLab(t, forgetest.Options{Prefix: "/gitlab"})
	srv.PutUser(forgetest.Alice)
	srv.LogIn(forgetest.Alice.ID)
	f := forge.NewFlow(provider(t, Config{ClientID: srv.Opts.ClientID, ClientSecret: srv.Opts.ClientSecret,
		RedirectURL: srv.Opts.RedirectURL, BaseURL: srv.URL + "/gitlab/"}))
	authURL, st := f.Begin()
	if !strings.HasPrefix(authURL, srv.URL+"/gitlab/oauth/authorize?") {
		t.Fatalf("authorize URL %s is not on the configured base", authURL)
	}
	q := forgetest.Authorize(t, authURL).Query()
	if _, err := f.Finish(context.Background(), st, q.Get("state"), q.Get("code")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/gitlab/oauth/token", "/gitlab/api/v4/user"} {
		if srv.Calls(path) != 1 {
			t.Errorf("%s called %d times, want 1", path, srv.Calls(path))
		}
	}
}

func TestDefaultsAreGitLabCom(t *testing.T) {
	p := provider(t, Config{ClientID: "id", ClientSecret: "s", RedirectURL: "https://ci.example.com/cb"})
	if got := p.AuthCodeURL("st", "ch"); !strings.HasPrefix(got, "https://gitlab.com/oauth/authorize?") ||
		!strings.Contains(got, "scope=read_user") {
		t.Errorf("AuthCodeURL = %s", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{ClientSecret: "s3cr3t", RedirectURL: "https://ci/cb"},
		{ClientID: "id", ClientSecret: "s3cr3t", RedirectURL: "https://ci/cb", BaseURL: "gitlab.example.com"},
	} {
		_, err := New(cfg)
		if err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
			continue
		}
		forgetest.NoSecrets(t, err, "s3cr3t")
	}
}

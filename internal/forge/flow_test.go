package forge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/runbookhq/runbook/internal/forge"
	"github.com/runbookhq/runbook/internal/forge/forgetest"
	"github.com/runbookhq/runbook/internal/forge/github"
)

// A login begun with one provider cannot be finished with another, even
// with a valid state and code.
func TestFinishRefusesOtherProvidersState(t *testing.T) {
	srv := forgetest.NewGitHub(t, forgetest.Options{})
	srv.PutUser(forgetest.Alice)
	srv.LogIn(forgetest.Alice.ID)
	p, err := github.New(github.Config{ClientID: srv.Opts.ClientID, ClientSecret: srv.Opts.ClientSecret,
		RedirectURL: srv.Opts.RedirectURL, BaseURL: srv.WebURL()})
	if err != nil {
		t.Fatal(err)
	}
	f := forge.NewFlow(p)
	authURL, st := f.Begin()
	q := forgetest.Authorize(t, authURL).Query()
	st.Provider = "gitlab"
	if _, err := f.Finish(context.Background(), st, q.Get("state"), q.Get("code")); !errors.Is(err, forge.ErrWrongProvider) {
		t.Fatalf("err = %v, want ErrWrongProvider", err)
	}
	st.Provider = "github"
	if _, err := f.Finish(context.Background(), st, q.Get("state"), ""); !errors.Is(err, forge.ErrMissingCode) {
		t.Fatalf("err = %v, want ErrMissingCode", err)
	}
	if id, err := f.Finish(context.Background(), st, q.Get("state"), q.Get("code")); err != nil || id.UserID != forgetest.Alice.ID {
		t.Fatalf("the untouched login failed: %+v, %v", id, err)
	}
}

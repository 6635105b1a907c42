package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/store"
)

// githubAppFlags configure the GitHub App (runs from repositories).
type githubAppFlags struct {
	appID                            int64
	clientID, keyFile, webhookSecret string
	apiURL, defaultTenant            string
}

// githubAppKeyEnv holds the key itself, for platforms that hand secrets as
// variables. It is deliberately not a flag: argv is world-readable.
const githubAppKeyEnv = "RUNBOOK_GITHUB_APP_KEY"

func addGitHubAppFlags(cmd *cobra.Command, f *githubAppFlags) {
	fl := cmd.Flags()
	fl.Int64Var(&f.appID, "github-app-id", 0, "GitHub App ID: run workflows from the repositories the app is installed on")
	fl.StringVar(&f.clientID, "github-app-client-id", "", "the GitHub App's client ID (GitHub accepts it instead of the app ID)")
	fl.StringVar(&f.keyFile, "github-app-key-file", "", "the GitHub App's private key (.pem); or the PEM itself in env "+githubAppKeyEnv)
	fl.StringVar(&f.webhookSecret, "github-webhook-secret", "", "the GitHub App's webhook secret (webhooks go to PUBLIC-URL/webhooks/github)")
	fl.StringVar(&f.apiURL, "github-api-url", "", "GitHub API URL (default https://api.github.com/, or GITHUB-URL/api/v3/ for Enterprise)")
	fl.StringVar(&f.defaultTenant, "github-default-tenant", "", "tenant (id, or the username of its owner) that owns new GitHub App installations")
}

// githubAppStore is what the GitHub App needs of the store.
type githubAppStore interface {
	githubapp.Repo
	githubapp.Runs
	tenantDirectory
}

// gitHubApp is the GitHub App as configured, checked at start. Its
// StepEnv hook exists before the scheduler; its Service, which submits runs
// to the scheduler, after it.
type gitHubApp struct {
	cfg    githubapp.Config
	access *githubapp.RepoAccess
}

// newGitHubApp validates the flags and the key at start, naming its source
// and the problem. It returns nil when no app is configured.
func newGitHubApp(ctx context.Context, f githubAppFlags, publicURL, githubURL string, st githubAppStore, log *slog.Logger) (*gitHubApp, error) {
	if f.appID == 0 && f.clientID == "" {
		return nil, nil
	}
	cfg := github.AppConfig{AppID: f.appID, ClientID: f.clientID, KeyFile: f.keyFile, WebhookSecret: f.webhookSecret,
		BaseURL: githubURL, APIURL: f.apiURL, Logger: log}
	if pem := os.Getenv(githubAppKeyEnv); pem != "" && f.keyFile == "" {
		cfg.PrivateKeyPEM, cfg.KeySource = []byte(pem), "env "+githubAppKeyEnv
	}
	if f.webhookSecret == "" {
		return nil, fmt.Errorf("--github-webhook-secret is required with --github-app-id: without it no webhook can be verified")
	}
	if publicURL == "" {
		return nil, fmt.Errorf("--public-url is required with --github-app-id: check runs link to the run's page there")
	}
	app, err := github.NewApp(cfg)
	if err != nil {
		return nil, err
	}
	tenant, err := resolveTenant(ctx, st, f.defaultTenant)
	if err != nil {
		return nil, err
	}
	return &gitHubApp{
		cfg:    githubapp.Config{App: app, Repo: st, Runs: st, PublicURL: publicURL, DefaultTenant: tenant, Logger: log},
		access: githubapp.NewRepoAccess(app, st, log),
	}, nil
}

// stepEnv is the scheduler's StepEnv hook; nil without an app.
func (g *gitHubApp) stepEnv() func(ctx context.Context, runID int64) (map[string]string, error) {
	if g == nil {
		return nil
	}
	return g.access.StepEnv
}

// start builds and starts the service that takes webhooks and submits
// runs to sub; nil without an app. Close it when done.
func (g *gitHubApp) start(ctx context.Context, sub githubapp.Submitter, bus *eventbus.Bus) (*githubapp.Service, error) {
	if g == nil {
		return nil, nil
	}
	cfg := g.cfg
	cfg.Submitter, cfg.Bus = sub, bus
	svc, err := githubapp.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// tenantDirectory is what resolveTenant reads: users by name, and whether
// a tenant exists (Usage fails with store.ErrNotFound when it does not).
type tenantDirectory interface {
	UserByLogin(ctx context.Context, login string) (account.User, string, error)
	Usage(ctx context.Context, tenantID int64) (store.Usage, error)
}

// resolveTenant reads --github-default-tenant: a tenant id, or a username
// whose personal tenant is meant. Either must name a tenant that exists:
// otherwise every push would be accepted and then fail in the background.
func resolveTenant(ctx context.Context, st tenantDirectory, v string) (int64, error) {
	if v == "" {
		return 0, fmt.Errorf("--github-default-tenant is required with --github-app-id: it names the tenant that owns new installations")
	}
	if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
		if _, err := st.Usage(ctx, id); err != nil {
			return 0, fmt.Errorf("--github-default-tenant %d: no such tenant (give the id of an existing tenant, or the username of its owner): %w", id, err)
		}
		return id, nil
	}
	u, _, err := st.UserByLogin(ctx, strings.ToLower(v))
	if err != nil {
		return 0, fmt.Errorf("--github-default-tenant %q: no tenant id and no user of that name: %w", v, err)
	}
	return u.TenantID, nil
}

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

// lateGitHub lets the scheduler, built first, call the GitHub App built
// after it (the app submits runs to the scheduler).
type lateGitHub struct{ svc *githubapp.Service }

func (l *lateGitHub) stepEnv(ctx context.Context, runID int64) (map[string]string, error) {
	if l.svc == nil {
		return nil, nil
	}
	return l.svc.StepEnv(ctx, runID)
}

// githubAppStore is what the GitHub App needs of the store.
type githubAppStore interface {
	store.Store
	account.Repo
	githubapp.Repo
}

// newGitHubApp validates the key at start, naming its source and the
// problem. It returns nil when no app is configured.
func newGitHubApp(ctx context.Context, f githubAppFlags, publicURL, githubURL string, st githubAppStore,
	sub githubapp.Submitter, bus *eventbus.Bus, log *slog.Logger) (*githubapp.Service, error) {
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
	return githubapp.New(githubapp.Config{App: app, Repo: st, Runs: st, Submitter: sub, Bus: bus,
		PublicURL: publicURL, DefaultTenant: tenant, Logger: log})
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

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/forge"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/forge/gitlab"
	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/server"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/sqlite"
)

type serverFlags struct {
	runnerFlags
	addr, secret string

	publicURL, githubID, githubSecret, githubURL, gitlabID, gitlabSecret, gitlabURL string
	gh                                                                              githubAppFlags

	admins    []string
	plansFile string
	runSteps  bool

	sandbox sandboxFlags
	hide    []string // paths sandboxed steps must not see
}

func addStoreFlags(cmd *cobra.Command, f *runnerFlags) {
	fl := cmd.Flags()
	fl.String("config", "", "YAML file of settings (keys are flag names); env RUNBOOK_CONFIG")
	fl.StringVar(&f.dataDir, "data-dir", "./runbook-data", "where the embedded database, logs and workspaces live")
	fl.StringVar(&f.databaseURL, "database-url", "", "postgres://user@host:5432/db to use Postgres instead of the embedded SQLite")
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API, web UI and scheduler (embedded SQLite and local processes by default)",
		Long: `Run the Runbook server. With no flags it keeps everything in ./runbook-data
(SQLite, logs, workspaces), runs steps as local processes and listens on :8080.
Every flag can also come from the environment (RUNBOOK_DATABASE_URL for
--database-url, and so on) or from a YAML file given with --config.

On SIGTERM or Ctrl-C it stops taking work and lets running steps finish for
--grace; then it stops them and records why. A second signal stops at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfig(cmd); err != nil {
				return &exitError{code: 2, err: err}
			}
			f.hide = hiddenPaths(cmd, f.dataDir)
			return runServer(cmd.Context(), f)
		},
	}
	addStoreFlags(cmd, &f.runnerFlags)
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", ":8080", "address to listen on")
	fl.StringVar(&f.secret, "secret", "", "secret that signs access tokens, ≥ 32 bytes (default: generated once into DATA-DIR/secret); every replica needs the same")
	addRunnerFlags(fl, &f.runnerFlags, "worker labels of this server's own step runner, as k=v,k=v (executor=local is added)")
	fl.StringSliceVar(&f.admins, "admins", nil, "usernames that may change plans and grant minutes (comma-separated)")
	fl.StringVar(&f.plansFile, "plans", "", "YAML file of plans (name, minutes, max_concurrent) to create or update at start; tenants without a plan are on \"free\"")
	fl.StringVar(&f.publicURL, "public-url", "", "the URL people reach this server at, e.g. https://runbook.example.com (needed for OAuth login)")
	fl.StringVar(&f.githubID, "github-client-id", "", "client ID of the GitHub OAuth app (or GitHub App) for \"Sign in with GitHub\"")
	fl.StringVar(&f.githubSecret, "github-client-secret", "", "its client secret")
	fl.StringVar(&f.githubURL, "github-url", "", "GitHub Enterprise Server URL, e.g. https://github.example.com/ (default github.com)")
	fl.StringVar(&f.gitlabID, "gitlab-client-id", "", "application ID of the GitLab OAuth application for \"Sign in with GitLab\"")
	fl.StringVar(&f.gitlabSecret, "gitlab-client-secret", "", "its secret")
	fl.BoolVar(&f.runSteps, "run-steps", true, "run steps in this process too; --run-steps=false leaves them to `runbook worker` processes (Postgres only)")
	addGitHubAppFlags(cmd, &f.gh)
	addSandboxFlags(fl, &f.sandbox, false)
	fl.StringVar(&f.gitlabURL, "gitlab-url", "", "self-managed GitLab URL, e.g. https://gitlab.example.com/ (default gitlab.com)")
	return cmd
}

// oauthLogin builds "Sign in with GitHub/GitLab" from the flags; nil when
// neither is configured.
func oauthLogin(f serverFlags, secret []byte, accounts *account.Service) (*server.OAuth, error) {
	var ps []forge.LoginProvider
	if f.githubID != "" || f.githubSecret != "" {
		p, err := github.New(github.Config{ClientID: f.githubID, ClientSecret: f.githubSecret,
			BaseURL: f.githubURL, RedirectURL: server.CallbackURL(f.publicURL, "github")})
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if f.gitlabID != "" || f.gitlabSecret != "" {
		p, err := gitlab.New(gitlab.Config{ClientID: f.gitlabID, ClientSecret: f.gitlabSecret,
			BaseURL: f.gitlabURL, RedirectURL: server.CallbackURL(f.publicURL, "gitlab")})
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	return server.NewOAuth(server.OAuthConfig{Providers: ps, Accounts: accounts, Secret: secret, PublicURL: f.publicURL})
}

func newMigrateCmd() *cobra.Command {
	var f runnerFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfig(cmd); err != nil {
				return &exitError{code: 2, err: err}
			}
			st, err := openStore(cmd.Context(), f)
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}
	addStoreFlags(cmd, &f)
	return cmd
}

// fullStore is what the server keeps in its database: runs and accounts.
type fullStore interface {
	store.Store
	account.Repo
	githubapp.Repo
}

// openStore opens (and migrates) Postgres when a URL is given, else the
// embedded SQLite in the data directory.
func openStore(ctx context.Context, f runnerFlags) (fullStore, error) {
	if f.databaseURL != "" {
		return postgres.Open(ctx, f.databaseURL)
	}
	return sqlite.Open(ctx, f.dataDir)
}

// tokenSecret returns --secret, or the secret kept in the data directory,
// creating it on first start.
func tokenSecret(f serverFlags) ([]byte, error) {
	if f.secret != "" {
		if len(f.secret) < account.MinSecretLen {
			return nil, fmt.Errorf("--secret is %d bytes; it must be at least %d", len(f.secret), account.MinSecretLen)
		}
		return []byte(f.secret), nil
	}
	path := filepath.Join(f.dataDir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if f.databaseURL != "" {
		return nil, errors.New("with --database-url, set --secret (or RUNBOOK_SECRET): every server replica must sign tokens with the same secret")
	}
	raw := make([]byte, 48)
	rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("saving the generated token secret: %w", err)
	}
	return []byte(secret), nil
}

func runServer(parent context.Context, f serverFlags) error {
	if parent == nil {
		parent = context.Background()
	}
	if !f.runSteps && f.databaseURL == "" {
		return &exitError{code: 2, err: errors.New("--run-steps=false needs --database-url postgres://…: with SQLite no worker can share the work")}
	}
	log, err := commonStart(&f.runnerFlags)
	if err != nil {
		return err
	}
	secret, err := tokenSecret(f)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	st, err := openStore(parent, f.runnerFlags)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := loadPlans(parent, st, f.plansFile); err != nil {
		return err
	}
	var sandbox *local.Sandbox
	acfg := account.Config{Secret: secret, Logger: log}
	if f.runSteps {
		var firstUserOnly bool
		if sandbox, firstUserOnly, err = serverSandbox(f.sandbox, f.databaseURL == "", f.hide, log); err != nil {
			return &exitError{code: 2, err: err}
		}
		if firstUserOnly {
			if acfg.SignUpGate, err = firstUserGate(st); err != nil {
				return &exitError{code: 2, err: err}
			}
		}
	}
	accounts, err := account.New(st, acfg)
	if err != nil {
		return err
	}
	oauth, err := oauthLogin(f, secret, accounts)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	gh, err := newGitHubApp(parent, f.gh, f.publicURL, f.githubURL, st, log)
	if err != nil {
		return &exitError{code: 2, err: err}
	}

	r, err := startStepRunner(parent, f.runnerFlags, runnerOptions{store: st, executor: "local", role: "server",
		noSteps: !f.runSteps, stepEnv: gh.stepEnv(), serveLogs: true, sandbox: sandbox}, log)
	if err != nil {
		return err
	}
	defer r.Close()
	svc, err := gh.start(parent, r.sched, r.bus)
	if err != nil {
		return err
	}
	if svc != nil {
		defer svc.Close()
	}
	api := server.New(server.Config{
		Runs: st, Quotas: st, Scheduler: r.sched, Logs: r.logs.api(), Bus: r.bus, Accounts: accounts, OAuth: oauth,
		Admins: f.admins, Logger: log, GitHub: svc, Ready: st.Ping,
	})
	if err := api.Register(r.sched.Collectors()...); err != nil {
		return err
	}
	return serve(log, f, api, r)
}

// loadPlans creates or updates the plans of --plans.
func loadPlans(ctx context.Context, st quotaStore, file string) error {
	if file == "" {
		return nil
	}
	plans, err := quota.LoadPlans(file)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	for _, p := range plans.Plans {
		if err := st.PutPlan(ctx, p); err != nil {
			return fmt.Errorf("saving plan %q: %w", p.Name, err)
		}
	}
	return nil
}

// quotaStore is what loadPlans writes to.
type quotaStore interface {
	PutPlan(ctx context.Context, p quota.Plan) error
}

// serve answers HTTP until a signal, then shuts down: streams end, the
// HTTP server stops, and running steps get the grace period.
func serve(log *slog.Logger, f serverFlags, api http.Handler, r *stepRunner) error {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", f.addr, err)
	}
	// Streams (SSE) end when baseCtx is cancelled at shutdown; otherwise
	// http.Server.Shutdown would wait for them forever.
	baseCtx, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	hs := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	db := "sqlite " + filepath.Join(f.dataDir, sqlite.FileName)
	if f.databaseURL != "" {
		db = "postgres"
	}
	log.Info("runbook server listening", "addr", "http://"+ln.Addr().String(), "store", db, "data_dir", f.dataDir, "version", version)
	failed := make(chan error, 1)
	go func() { failed <- fmt.Errorf("serving HTTP: %w", hs.Serve(ln)) }()
	return awaitShutdown(log, f.grace, failed, func(force context.Context) {
		endStreams()
		ctx, cancel := context.WithTimeout(force, 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}, r.shutdown)
}

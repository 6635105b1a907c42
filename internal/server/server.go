// Package server is Runbook's HTTP face: the JSON API under /api/v1, live
// streams over SSE, health and metrics. It owns no state: runs live in the
// store, logs in the log store, and work is handed to the scheduler.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/store"
)

// Runs is what the server reads of the store.
type Runs interface {
	GetRun(ctx context.Context, tenantID, runID int64) (store.Run, error)
	ListRuns(ctx context.Context, tenantID int64, f store.RunFilter, p store.Page) (store.RunPage, error)
	Events(ctx context.Context, tenantID, runID, afterSeq int64) ([]store.Event, error)
	Stats(ctx context.Context) (store.Stats, error)
}

// Scheduler is what the server asks to start and stop work.
type Scheduler interface {
	Submit(ctx context.Context, nr store.NewRun) (store.Run, error)
	// SubmitReusing is Submit where the named steps count as succeeded
	// (with reason) instead of running: a re-run of the failed steps.
	SubmitReusing(ctx context.Context, nr store.NewRun, reuse []string, reason string) (store.Run, error)
	Cancel(ctx context.Context, tenantID, runID int64, reason string) error
}

// Logs is what the server reads of the log store.
type Logs interface {
	Read(k logstore.Key, from int64, limit int) ([]logline.Line, error)
	Follow(ctx context.Context, k logstore.Key, from int64, fn func(logline.Line) error) error
	Stat(k logstore.Key) (logstore.Info, error)
}

// Accounts is what the server needs of the account service.
type Accounts interface {
	SignUp(ctx context.Context, email, username, password string) (account.User, error)
	Login(ctx context.Context, login, password, clientIP string) (account.Tokens, error)
	Refresh(ctx context.Context, refreshToken string) (account.Tokens, error)
	Logout(ctx context.Context, refreshToken string) error
	// Authenticate fails for a missing, malformed, forged, expired or
	// revoked access token or personal access token.
	Authenticate(ctx context.Context, bearer string) (account.Principal, error)
	// CheckMember fails with an error matching store.ErrNotFound when the
	// user is not a member of the tenant.
	CheckMember(ctx context.Context, userID, tenantID int64) error
	Memberships(ctx context.Context, userID int64) ([]account.Membership, error)
	CreateOrg(ctx context.Context, ownerID int64, name string) (account.Membership, error)
	CreatePAT(ctx context.Context, userID int64, name string, expiresAt time.Time) (string, account.PAT, error)
	PATs(ctx context.Context, userID int64) ([]account.PAT, error)
	RevokePAT(ctx context.Context, userID, patID int64) error
}

// Config wires the server.
type Config struct {
	Runs      Runs
	Scheduler Scheduler
	Logs      Logs
	Bus       *eventbus.Bus
	Accounts  Accounts
	Logger    *slog.Logger
	Ready     func(ctx context.Context) error // nil: always ready
	// Heartbeat is how often an idle SSE stream gets a comment, so proxies
	// keep it open. Default 15s.
	Heartbeat time.Duration
	// TenantRescan is how often a tenant's event stream re-reads its runs
	// with no note (a waiting run admitted because a new cycle began
	// changes status without anyone publishing it) and checks that its
	// caller may still read them. Default 10s.
	TenantRescan time.Duration
	// MaxBody bounds request bodies other than workflow uploads. Default 64 KiB.
	MaxBody int64
	// OAuth serves /auth/{provider}/login and /callback; nil: no OAuth login.
	OAuth *OAuth
	// Quotas serves usage and the admin routes; nil: they answer 501.
	Quotas Quotas
	// Admins are the usernames that may change plans and grant minutes.
	Admins []string
	// GitHub serves the GitHub App's webhook and projects; nil: not configured.
	GitHub *githubapp.Service
}

// Server serves the API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	cache   *caches
}

// New builds the server's routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.TenantRescan <= 0 {
		cfg.TenantRescan = defaultTenantRescan
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), metrics: newMetrics(), cache: newCaches()}
	s.metrics.reg.MustRegister(&statsCollector{runs: cfg.Runs, log: cfg.Logger})
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.metrics.handler())

	s.handle("POST /api/v1/auth/signup", s.signUp)
	s.handle("POST /api/v1/auth/login", s.login)
	s.handle("POST /api/v1/auth/refresh", s.refresh)
	s.handle("POST /api/v1/auth/logout", s.logout)
	s.handle("GET /api/v1/user", s.signedIn(s.me))
	s.handle("POST /api/v1/orgs", s.signedIn(s.createOrg))
	s.handle("GET /api/v1/user/tokens", s.signedIn(s.listPATs))
	s.handle("POST /api/v1/user/tokens", s.signedIn(s.createPAT))
	s.handle("DELETE /api/v1/user/tokens/{id}", s.signedIn(s.revokePAT))
	s.oauthRoutes()

	s.handle("POST /api/v1/tenants/{tenant}/runs", s.member(s.createRun))
	s.handle("GET /api/v1/tenants/{tenant}/runs", s.member(s.listRuns))
	s.handle("GET /api/v1/tenants/{tenant}/runs/{run}", s.member(s.getRun))
	s.handle("GET /api/v1/tenants/{tenant}/runs/{run}/events", s.member(s.followRun))
	s.handle("POST /api/v1/tenants/{tenant}/runs/{run}/cancel", s.member(s.cancelRun))
	s.handle("POST /api/v1/tenants/{tenant}/runs/{run}/rerun", s.member(s.rerun))
	s.handle("POST /api/v1/tenants/{tenant}/runs/{run}/rerun-failed", s.member(s.rerunFailed))
	s.handle("GET /api/v1/tenants/{tenant}/runs/{run}/steps/{step}/logs", s.member(s.stepLogs))
	s.handle("GET /api/v1/tenants/{tenant}/runs/{run}/steps/{step}/logs/raw", s.member(s.rawLogs))
	s.handle("GET /api/v1/tenants/{tenant}/runs/{run}/steps/{step}/logs/follow", s.member(s.followLogs))
	s.handle("GET /api/v1/tenants/{tenant}/events", s.member(s.followTenant))
	s.usageRoutes()
	s.githubRoutes()
	s.apiDocRoutes()
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API route: "+r.Method+" "+r.URL.Path)
	})
	s.mux.Handle("/", s.ui())
}

// handle registers h with request metrics labelled by its route pattern.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.metrics.instrument(pattern, h))
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			s.log.Warn("not ready", "err", err)
			writeError(w, http.StatusServiceUnavailable, "not_ready", "not ready: "+err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/githubapp"
)

// githubRoutes serves the GitHub App's webhook and the projects API; without
// Config.GitHub they answer that the app is not configured.
func (s *Server) githubRoutes() {
	s.handle("POST /webhooks/github", s.githubWebhook)
	s.handle("GET /api/v1/tenants/{tenant}/projects", s.member(s.listProjects))
	s.handle("POST /api/v1/tenants/{tenant}/projects/{project}/enable", s.member(s.enableProject(true)))
	s.handle("POST /api/v1/tenants/{tenant}/projects/{project}/disable", s.member(s.enableProject(false)))
	s.handle("POST /api/v1/tenants/{tenant}/projects/{project}/runs", s.member(s.triggerProject))
}

func (s *Server) noGitHub(w http.ResponseWriter) bool {
	if s.cfg.GitHub != nil {
		return false
	}
	writeError(w, http.StatusNotFound, "github_not_configured", "the GitHub App is not configured on this server (runbook server --github-app-id …)")
	return true
}

// githubWebhook verifies and records a delivery and answers 202 at once;
// the work happens in the background (GitHub waits at most 10 s).
func (s *Server) githubWebhook(w http.ResponseWriter, r *http.Request) {
	if s.noGitHub(w) {
		return
	}
	body, ok := readBody(w, r, github.MaxWebhookBody, fmt.Sprintf("a webhook body may be at most %d bytes", github.MaxWebhookBody))
	if !ok {
		return
	}
	switch err := s.cfg.GitHub.Receive(r.Context(), r.Header, body); {
	case errors.Is(err, github.ErrBadSignature):
		s.log.Warn("webhook with a bad signature refused", "delivery", r.Header.Get("X-GitHub-Delivery"))
		s.fail(w, r, err)
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
	}
}

type projectJSON struct {
	ID             int64  `json:"id"`
	InstallationID int64  `json:"installation_id"`
	FullName       string `json:"full_name"`
	DefaultBranch  string `json:"default_branch"`
	Enabled        bool   `json:"enabled"`
	LastError      string `json:"last_error,omitempty"`
}

func toProjectJSON(p githubapp.Project) projectJSON {
	return projectJSON{ID: p.ID, InstallationID: p.InstallationID, FullName: p.FullName,
		DefaultBranch: p.DefaultBranch, Enabled: p.Enabled, LastError: p.LastError}
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, c call) {
	if s.noGitHub(w) {
		return
	}
	ps, err := s.cfg.GitHub.Projects(r.Context(), c.tenant)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := make([]projectJSON, len(ps))
	for i, p := range ps {
		out[i] = toProjectJSON(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out})
}

func projectID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("project"), 10, 64)
	if err != nil || id <= 0 {
		notFound(w)
		return 0, false
	}
	return id, true
}

func (s *Server) enableProject(on bool) func(http.ResponseWriter, *http.Request, call) {
	return func(w http.ResponseWriter, r *http.Request, c call) {
		id, ok := projectID(w, r)
		if !ok || s.noGitHub(w) {
			return
		}
		p, err := s.cfg.GitHub.SetEnabled(r.Context(), c.tenant, id, on)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toProjectJSON(p))
	}
}

func (s *Server) triggerProject(w http.ResponseWriter, r *http.Request, c call) {
	id, ok := projectID(w, r)
	if !ok || s.noGitHub(w) {
		return
	}
	var req struct {
		Branch string `json:"branch"`
		SHA    string `json:"sha"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	runID, err := s.cfg.GitHub.Trigger(r.Context(), c.tenant, id, req.Branch, req.SHA)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"run_id": runID})
}

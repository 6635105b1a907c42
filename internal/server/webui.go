package server

// What the web app needs of the server beyond the plain API: which logins
// to offer, who started a run, and a run's workflow name.

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

// providerView is one OAuth login the server offers.
type providerView struct {
	Name     string `json:"name"`
	Title    string `json:"title"`
	LoginURL string `json:"login_url"`
}

// authProviders answers GET /api/v1/auth/providers: the OAuth logins this
// server has configured, so the sign-in page shows only buttons that work.
func (s *Server) authProviders(w http.ResponseWriter, _ *http.Request) {
	out := []providerView{}
	if o := s.cfg.OAuth; o != nil {
		for name := range o.flows {
			title := providerTitles[name]
			if title == "" {
				title = name
			}
			out = append(out, providerView{Name: name, Title: title, LoginURL: "/auth/" + name + "/login"})
		}
	}
	slices.SortFunc(out, func(a, b providerView) int { return cmp.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, map[string][]providerView{"providers": out})
}

// triggerOf is who started an uploaded run: "ui" when the web app says so
// (?trigger=ui), otherwise "api".
func triggerOf(r *http.Request) string {
	if r.URL.Query().Get("trigger") == "ui" {
		return "ui"
	}
	return "api"
}

// workflowName is the run's workflow `name:`; "" when it has none or the
// source is not at hand (run lists do not read it).
func workflowName(r store.Run) string {
	if len(r.Source) == 0 {
		return ""
	}
	wf, err := workflow.Parse(r.File, r.Source)
	if err != nil {
		return ""
	}
	return wf.Name
}

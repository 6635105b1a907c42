package server

import (
	"cmp"
	"net/http"
	"slices"
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

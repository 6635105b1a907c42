package server

import (
	"net/http"
	"sync"

	"github.com/runbookhq/runbook/api"
	"github.com/runbookhq/runbook/internal/apidoc"
)

// apiDocRoutes publishes the API's own description: the OpenAPI file as
// it is in the repository, and a page rendered from it (no script, nothing
// loaded from elsewhere).
func (s *Server) apiDocRoutes() {
	s.handle("GET /api/v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(api.OpenAPI)
	})
	s.handle("GET /api/v1/docs", func(w http.ResponseWriter, _ *http.Request) {
		page, err := apiPage()
		if err != nil {
			s.log.Error("rendering the API page", "err", err)
			writeError(w, http.StatusInternalServerError, "internal", "the API page could not be rendered; /api/v1/openapi.yaml has the description")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Write(page)
	})
}

var apiPage = sync.OnceValues(func() ([]byte, error) {
	spec, err := apidoc.Parse(api.OpenAPI)
	if err != nil {
		return nil, err
	}
	return spec.HTML()
})

package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/api"
)

// TestAPIDocs: the server publishes its own OpenAPI file, unchanged, and
// a page rendered from it that names every route, without a token.
func TestAPIDocs(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	spec := h.request("GET", "/api/v1/openapi.yaml", "", nil)
	if spec.code != http.StatusOK || !bytes.Equal(spec.body, api.OpenAPI) || spec.hdr.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /api/v1/openapi.yaml: %d %q, %d bytes; want 200 application/yaml with api/openapi.yaml", spec.code, spec.hdr.Get("Content-Type"), len(spec.body))
	}
	page := h.request("GET", "/api/v1/docs", "", nil)
	if page.code != http.StatusOK || !strings.HasPrefix(page.hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /api/v1/docs: %d %q", page.code, page.hdr.Get("Content-Type"))
	}
	for _, r := range routes {
		if !strings.Contains(string(page.body), `<span class="m">`+r.method+`</span>`+r.pattern+`</h3>`) {
			t.Errorf("the API page lacks %s", r.key())
		}
	}
	if strings.Contains(string(page.body), "<script") {
		t.Error("the API page has a script")
	}
}

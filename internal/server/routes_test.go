package server_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// access is who may call a route.
type access int

const (
	public access = iota
	signedIn
	tenantMember
)

// route is one registered (method, pattern) of the API.
type route struct {
	method, pattern string
	access          access
}

func (r route) key() string { return r.method + " " + r.pattern }

// routes must list every route the server registers: TestRouteTable fails
// when one is added without being listed here (and in api/openapi.yaml).
var routes = []route{
	{"GET", "/healthz", public},
	{"GET", "/readyz", public},
	{"GET", "/metrics", public},
	{"POST", "/api/v1/auth/signup", public},
	{"POST", "/api/v1/auth/login", public},
	{"POST", "/api/v1/auth/refresh", public},
	{"POST", "/api/v1/auth/logout", public},
	{"GET", "/api/v1/user", signedIn},
	{"POST", "/api/v1/orgs", signedIn},
	{"GET", "/api/v1/user/tokens", signedIn},
	{"POST", "/api/v1/user/tokens", signedIn},
	{"DELETE", "/api/v1/user/tokens/{id}", signedIn},
	{"GET", "/auth/{provider}/login", public},
	{"GET", "/auth/{provider}/callback", public},
	{"GET", "/api/v1/auth/providers", public},
	{"POST", "/api/v1/tenants/{tenant}/runs", tenantMember},
	{"GET", "/api/v1/tenants/{tenant}/runs", tenantMember},
	{"GET", "/api/v1/tenants/{tenant}/runs/{run}", tenantMember},
	{"GET", "/api/v1/tenants/{tenant}/runs/{run}/events", tenantMember},
	{"POST", "/api/v1/tenants/{tenant}/runs/{run}/cancel", tenantMember},
	{"POST", "/api/v1/tenants/{tenant}/runs/{run}/rerun", tenantMember},
	{"POST", "/api/v1/tenants/{tenant}/runs/{run}/rerun-failed", tenantMember},
	{"GET", "/api/v1/tenants/{tenant}/runs/{run}/steps/{step}/logs", tenantMember},
	{"GET", "/api/v1/tenants/{tenant}/runs/{run}/steps/{step}/logs/raw", tenantMember},
	{"GET", "/api/v1/tenants/{tenant}/runs/{run}/steps/{step}/logs/follow", tenantMember},
	{"GET", "/api/v1/tenants/{tenant}/events", tenantMember},
	{"GET", "/api/v1/tenants/{tenant}/usage", tenantMember},
	{"GET", "/api/v1/plans", signedIn},
	{"PUT", "/api/v1/admin/plans/{plan}", signedIn},
	{"PUT", "/api/v1/admin/tenants/{tenant}/plan", signedIn},
	{"POST", "/api/v1/admin/tenants/{tenant}/grants", signedIn},
	{"POST", "/webhooks/github", public},
	{"GET", "/api/v1/tenants/{tenant}/projects", tenantMember},
	{"POST", "/api/v1/tenants/{tenant}/projects/{project}/enable", tenantMember},
	{"POST", "/api/v1/tenants/{tenant}/projects/{project}/disable", tenantMember},
	{"POST", "/api/v1/tenants/{tenant}/projects/{project}/runs", tenantMember},
	{"GET", "/api/v1/openapi.yaml", public},
	{"GET", "/api/v1/docs", public},
}

// path fills the pattern's wildcards.
func (r route) path(vals map[string]string) string {
	p := r.pattern
	for k, v := range vals {
		p = strings.ReplaceAll(p, "{"+k+"}", v)
	}
	return p
}

// registeredRoutes reads the (method, pattern) strings the package's
// non-test files hand to a mux: calls like s.handle("GET /x", …) and
// s.mux.Handle("GET /x", …). Method-less patterns (the catch-all) are left
// out. Reading the source keeps the server free of test-only exports.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !map[string]bool{"handle": true, "Handle": true, "HandleFunc": true}[sel.Sel.Name] {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if method, path, ok := strings.Cut(s, " "); ok && strings.HasPrefix(path, "/") && method == strings.ToUpper(method) {
				out = append(out, method+" "+path)
			}
			return true
		})
	}
	sort.Strings(out)
	return out
}

func TestRouteTable(t *testing.T) {
	listed := map[string]bool{}
	for _, r := range routes {
		if listed[r.key()] {
			t.Errorf("%s is listed twice", r.key())
		}
		listed[r.key()] = true
	}
	registered := registeredRoutes(t)
	if len(registered) < 10 {
		t.Fatalf("found only %d routes in the source: has registration moved? %v", len(registered), registered)
	}
	for _, k := range registered {
		if !listed[k] {
			t.Errorf("%s is registered but not in the routes table of routes_test.go (nor, likely, in api/openapi.yaml): add it, with its access", k)
		}
		delete(listed, k)
	}
	for k := range listed {
		t.Errorf("%s is in the routes table but the server does not register it", k)
	}

	// Each route answers on the mux: not the catch-all's "no such API
	// route", and without a token, 401 for everything but public routes.
	h := newHarness(t, harnessOpts{})
	for _, r := range routes {
		if r.access == public {
			continue // driven below and by other tests
		}
		res := h.request(r.method, r.path(map[string]string{"tenant": "1", "run": "1", "step": "s", "id": "1", "plan": "free"}), "", nil)
		if strings.Contains(string(res.body), "no such API route") {
			t.Errorf("%s reached the catch-all", r.key())
		}
		if res.code != http.StatusUnauthorized || res.hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without a token: %s, want 401 with WWW-Authenticate", r.key(), res)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		want(t, h.request("GET", p, "", nil), http.StatusOK, p)
	}
	m := h.request("GET", "/metrics", "", nil)
	if m.code != http.StatusOK || !strings.Contains(string(m.body), "runbook_http_request_duration_seconds") {
		t.Errorf("/metrics: %d, without the API latency histogram", m.code)
	}
}

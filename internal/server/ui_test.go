package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestUIServesTheAppAndLeavesOtherRoutesAlone(t *testing.T) {
	s := New(Config{})
	res, index := get(t, s, "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(index, `<div id="root">`) {
		t.Fatalf("GET / = %d %q, want the app's index.html", res.StatusCode, index)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("index.html Cache-Control = %q, want no-cache so a new build is picked up", cc)
	}

	// Any app path answers index.html: the app's router shows the page.
	for _, p := range []string{"/login", "/t/1/runs", "/t/1/runs/42", "/index.html"} {
		if res, body := get(t, s, p); res.StatusCode != http.StatusOK || body != index {
			t.Errorf("GET %s = %d, want index.html", p, res.StatusCode)
		}
	}

	// The script index.html names is served, cacheable forever.
	m := regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindStringSubmatch(index)
	if m == nil {
		t.Fatalf("index.html names no script: %s", index)
	}
	res, js := get(t, s, m[1])
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), "javascript") || len(js) < 1000 {
		t.Errorf("GET %s = %d %q (%d bytes), want the bundle", m[1], res.StatusCode, res.Header.Get("Content-Type"), len(js))
	}
	if !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("asset Cache-Control = %q, want immutable", res.Header.Get("Cache-Control"))
	}
	if res, _ := get(t, s, "/assets/missing-123.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("a missing asset = %d, want 404 rather than index.html", res.StatusCode)
	}

	// API, health and OAuth routes keep their own handlers.
	for p, want := range map[string]string{
		"/api/v1/no-such-route": `"not_found"`,
		"/healthz":              `"ok"`,
		"/auth/nope/login":      `"error"`,
	} {
		res, body := get(t, s, p)
		if strings.Contains(body, `<div id="root">`) || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d %q, want its own handler's JSON containing %s", p, res.StatusCode, body, want)
		}
	}
}

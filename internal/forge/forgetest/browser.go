package forgetest

import (
	"io"
	"net/http"
	"net/url"
	"testing"
)

// Authorize plays the browser on the provider's side: it opens authURL,
// lets the signed-in user approve, and returns the callback URL that the
// provider redirects back to (with code and state, or error).
func Authorize(t testing.TB, authURL string) *url.URL {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("opening the authorize URL: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize answered %s, want a redirect: %s", resp.Status, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("authorize redirected to an unreadable URL: %v", err)
	}
	return loc
}

package forgetest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// checkVerifier agrees with x/oauth2's independent S256 computation.
func TestCheckVerifierS256(t *testing.T) {
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	if msg := checkVerifier(verifier, challenge); msg != "" {
		t.Fatalf("RFC example rejected: %s", msg)
	}
	if msg := checkVerifier(oauth2.GenerateVerifier(), challenge); msg == "" {
		t.Fatal("a wrong verifier was accepted")
	}
	if msg := checkVerifier("short", challenge); msg == "" {
		t.Fatal("a too short verifier was accepted")
	}
}

// The fake refuses what the real providers refuse, so that tests through
// it mean something.
func TestAuthorizeRefusals(t *testing.T) {
	srv := NewGitHub(t, Options{})
	srv.PutUser(Alice)
	srv.LogIn(Alice.ID)
	base := url.Values{"client_id": {srv.Opts.ClientID}, "redirect_uri": {srv.Opts.RedirectURL},
		"response_type": {"code"}, "state": {"st"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"}}
	with := func(k, v string) string {
		q := url.Values{}
		for kk, vv := range base {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return srv.URL + "/login/oauth/authorize?" + q.Encode()
	}
	if q := Authorize(t, with("state", "st")).Query(); q.Get("code") == "" || q.Get("state") != "st" {
		t.Fatalf("a valid request got %v", q)
	}
	for _, k := range []string{"code_challenge", "code_challenge_method"} {
		if q := Authorize(t, with(k, "")).Query(); q.Get("error") != "invalid_request" || q.Get("code") != "" {
			t.Errorf("without %s: %v, want invalid_request", k, q)
		}
	}
	if q := Authorize(t, with("code_challenge_method", "plain")).Query(); q.Get("error") != "invalid_request" {
		t.Errorf("plain PKCE: %v, want invalid_request", q)
	}
	for _, k := range []string{"client_id", "redirect_uri"} {
		resp, err := http.Get(with(k, "https://evil.test/cb"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("bad %s: %s, want 400 without a redirect", k, resp.Status)
		}
	}
}

func TestAPIRequiresToken(t *testing.T) {
	srv := NewGitLab(t, Options{})
	srv.PutUser(Alice)
	for _, h := range []string{"", "Bearer ", "Bearer nope", "PRIVATE-TOKEN x"} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v4/user", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %s, want 401", h, resp.Status)
		}
	}
	if !strings.HasSuffix(srv.WebURL(), srv.URL) {
		t.Errorf("WebURL %s", srv.WebURL())
	}
}

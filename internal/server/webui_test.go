package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestAuthProvidersListsOnlyConfiguredLogins(t *testing.T) {
	w := httptest.NewRecorder()
	New(Config{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/auth/providers", nil))
	if w.Code != http.StatusOK || w.Body.String() != "{\"providers\":[]}\n" {
		t.Errorf("without OAuth: %d %q; want 200 and no providers", w.Code, w.Body.String())
	}

	e := newOAuthEnv(t)
	a := e.browser(t).get(e.url + "/api/v1/auth/providers")
	var got struct{ Providers []providerView }
	if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.status != http.StatusOK {
		t.Fatalf("with OAuth: %d %s", a.status, a.body)
	}
	want := []providerView{{"github", "GitHub", "/auth/github/login"}, {"gitlab", "GitLab", "/auth/gitlab/login"}}
	if !reflect.DeepEqual(got.Providers, want) {
		t.Errorf("providers %+v; want %+v", got.Providers, want)
	}
}

// A browser's password login asks for the refresh token in the HttpOnly
// cookie, like an OAuth login: every tab of the browser shares the session
// and no page script holds the token.
func TestPasswordLoginCanSetTheRefreshCookie(t *testing.T) {
	e := newOAuthEnv(t)
	if _, err := e.accounts.SignUp(context.Background(), "bob@example.com", "bob", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	a := b.do(http.MethodPost, e.url+"/api/v1/auth/login", `{"login":"bob","password":"correct horse battery","cookie":true}`, "")
	var tv tokensView
	if err := json.Unmarshal([]byte(a.body), &tv); err != nil || a.status != http.StatusOK || tv.AccessToken == "" || tv.RefreshToken != "" {
		t.Fatalf("cookie login: %d %s; want an access token and no refresh token in the body", a.status, a.body)
	}
	rc := a.cookies[refreshCookie]
	if rc == nil || rc.Value == "" || !rc.HttpOnly || rc.SameSite != http.SameSiteStrictMode || rc.Path != refreshCookiePath {
		t.Fatalf("refresh cookie %+v: want HttpOnly, SameSite=Strict, path %s", rc, refreshCookiePath)
	}
	if me, _ := b.session(); me.Username != "bob" {
		t.Errorf("the cookie's session is %q's, want bob's", me.Username)
	}

	// Without the flag the token comes in the body, as before.
	a = e.browser(t).do(http.MethodPost, e.url+"/api/v1/auth/login", `{"login":"bob","password":"correct horse battery"}`, "")
	tv = tokensView{}
	if err := json.Unmarshal([]byte(a.body), &tv); err != nil || a.status != http.StatusOK || tv.RefreshToken == "" || a.cookies[refreshCookie] != nil {
		t.Errorf("JSON login: %d %s %v; want the refresh token in the body and no cookie", a.status, a.body, a.cookies)
	}
}

package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/forge"
	"github.com/runbookhq/runbook/internal/forge/forgetest"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/forge/gitlab"
	"github.com/runbookhq/runbook/internal/store/sqlite"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-oauth-test")

// lockedBuffer collects the log lines of the server and the account service.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clock is the login flows' time, moved by tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// oauthEnv is a real server with the real account service on SQLite, and
// fake GitHub and GitLab providers whose OAuth apps point back at it.
type oauthEnv struct {
	url      string
	srv      *Server
	accounts *account.Service
	fakes    map[string]*forgetest.Server
	logs     *lockedBuffer
	clock    *clock
	bodies   []string // every response body a browser read
}

func newOAuthEnv(t *testing.T) *oauthEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e := &oauthEnv{logs: &lockedBuffer{}, clock: &clock{t: time.Now()}, fakes: map[string]*forgetest.Server{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.accounts, err = account.New(st, account.Config{Secret: testSecret, Logger: log,
		Hasher: account.Argon2id{Memory: 256, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	e.url = "http://" + hs.Listener.Addr().String()
	gh := forgetest.NewGitHub(t, forgetest.Options{RedirectURL: CallbackURL(e.url, "github")})
	gl := forgetest.NewGitLab(t, forgetest.Options{RedirectURL: CallbackURL(e.url, "gitlab"), Prefix: "/gitlab"})
	e.fakes["github"], e.fakes["gitlab"] = gh, gl
	ghp, err := github.New(github.Config{ClientID: gh.Opts.ClientID, ClientSecret: gh.Opts.ClientSecret,
		RedirectURL: CallbackURL(e.url, "github"), BaseURL: gh.WebURL(), APIURL: gh.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	glp, err := gitlab.New(gitlab.Config{ClientID: gl.Opts.ClientID, ClientSecret: gl.Opts.ClientSecret,
		RedirectURL: CallbackURL(e.url, "gitlab"), BaseURL: gl.WebURL()})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOAuth(OAuthConfig{Providers: []forge.LoginProvider{ghp, glp}, Accounts: e.accounts,
		Secret: testSecret, PublicURL: e.url, Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = New(Config{Accounts: e.accounts, Logger: log, OAuth: o})
	hs.Config.Handler = e.srv
	hs.Start()
	t.Cleanup(hs.Close)
	return e
}

// putUser makes u the user signed in on both fake providers.
func (e *oauthEnv) putUser(u forgetest.User) {
	for _, f := range e.fakes {
		f.PutUser(u)
		f.LogIn(u.ID)
	}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t   *testing.T
	e   *oauthEnv
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *oauthEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, jar: jar, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status  int
	header  http.Header
	body    string
	cookies map[string]*http.Cookie
}

func (b *browser) do(method, u, body, bearer string) answer {
	b.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(raw), cookies: map[string]*http.Cookie{}}
	for _, c := range resp.Cookies() {
		a.cookies[c.Name] = c
	}
	b.e.bodies = append(b.e.bodies, a.body, resp.Header.Get("Location"))
	return a
}

func (b *browser) get(u string) answer { return b.do(http.MethodGet, u, "", "") }

// start opens /auth/{provider}/login and returns the provider's authorize URL.
func (b *browser) start(provider string) string {
	b.t.Helper()
	a := b.get(b.e.url + "/auth/" + provider + "/login")
	if a.status != http.StatusFound || a.cookies[loginCookie] == nil {
		b.t.Fatalf("login start: %d, cookies %v: %s", a.status, a.cookies, a.body)
	}
	return a.header.Get("Location")
}

// login runs a whole login and returns the callback's answer and URL.
func (b *browser) login(provider string) (answer, *url.URL) {
	b.t.Helper()
	cb := forgetest.Authorize(b.t, b.start(provider))
	return b.get(cb.String()), cb
}

// session trades the refresh cookie for tokens and reads /api/v1/user.
func (b *browser) session() (me struct {
	ID          int64
	Username    string
	Memberships []membershipView
}, access string) {
	b.t.Helper()
	a := b.do(http.MethodPost, b.e.url+"/api/v1/auth/refresh", "", "")
	if a.status != http.StatusOK {
		b.t.Fatalf("refresh with the login cookie: %d %s", a.status, a.body)
	}
	var tv tokensView
	if err := json.Unmarshal([]byte(a.body), &tv); err != nil || tv.AccessToken == "" {
		b.t.Fatalf("refresh answered %s (%v)", a.body, err)
	}
	if tv.RefreshToken != "" {
		b.t.Errorf("a cookie refresh put the refresh token in the body, where page scripts read it")
	}
	if a.cookies[refreshCookie] == nil || a.cookies[refreshCookie].Value == "" {
		b.t.Errorf("a cookie refresh did not rotate the cookie: %v", a.cookies)
	}
	u := b.do(http.MethodGet, b.e.url+"/api/v1/user", "", tv.AccessToken)
	if u.status != http.StatusOK {
		b.t.Fatalf("GET /api/v1/user: %d %s", u.status, u.body)
	}
	if err := json.Unmarshal([]byte(u.body), &me); err != nil {
		b.t.Fatal(err)
	}
	return me, tv.AccessToken
}

func wantError(t *testing.T, a answer, status int, code, text string) {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(a.body), &e); err != nil || a.status != status || e.Error.Code != code || !strings.Contains(e.Error.Message, text) {
		t.Errorf("got %d %s; want %d %s containing %q", a.status, a.body, status, code, text)
	}
}

func wantLoginCookieCleared(t *testing.T, a answer) {
	t.Helper()
	if c := a.cookies[loginCookie]; c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("the callback did not delete the login cookie: %v", c)
	}
}

var alice = forgetest.User{ID: 4242, Login: "Alice_L", Name: "Alice", Emails: []forgetest.Email{{Address: "alice@example.com", Primary: true, Verified: true}}}

func TestOAuthLoginCreatesAccountThenReusesIt(t *testing.T) {
	for _, provider := range []string{"github", "gitlab"} {
		t.Run(provider, func(t *testing.T) {
			e := newOAuthEnv(t)
			e.putUser(alice)
			b := e.browser(t)
			a, _ := b.login(provider)
			if a.status != http.StatusSeeOther || a.header.Get("Location") != loginDoneURL {
				t.Fatalf("callback: %d Location %q: %s", a.status, a.header.Get("Location"), a.body)
			}
			wantLoginCookieCleared(t, a)
			rc := a.cookies[refreshCookie]
			if rc == nil || !rc.HttpOnly || rc.Path != refreshCookiePath || rc.SameSite != http.SameSiteStrictMode || rc.MaxAge <= 0 {
				t.Fatalf("refresh cookie %+v: want HttpOnly, SameSite=Strict, path %s", rc, refreshCookiePath)
			}
			me, _ := b.session()
			if me.Username != "alice-l" || len(me.Memberships) != 1 || !me.Memberships[0].Personal || me.Memberships[0].Role != account.RoleOwner {
				t.Fatalf("first login gave %+v; want user alice-l owning a personal tenant", me)
			}

			again, _ := e.browser(t).login(provider)
			if again.status != http.StatusSeeOther {
				t.Fatalf("second login: %d %s", again.status, again.body)
			}
			// The same identity under a new login name is still the same account.
			renamed := alice
			renamed.Login = "alice-renamed"
			e.putUser(renamed)
			b3 := e.browser(t)
			b3.login(provider)
			me3, _ := b3.session()
			if me3.ID != me.ID || me3.Username != me.Username {
				t.Errorf("a later login gave user %+v, want %+v", me3, me)
			}
		})
	}
}

func TestOAuthStateMismatchIsRejected(t *testing.T) {
	e := newOAuthEnv(t)
	e.putUser(alice)
	victim, attacker := e.browser(t), e.browser(t)
	victim.start("github")
	// Login CSRF: the attacker's own callback, opened in the victim's browser.
	cb := forgetest.Authorize(t, attacker.start("github"))
	tokenCalls := e.fakes["github"].Calls("/login/oauth/access_token")
	a := victim.get(cb.String())
	wantError(t, a, http.StatusBadRequest, "login_failed", "does not match")
	wantLoginCookieCleared(t, a)
	if n := e.fakes["github"].Calls("/login/oauth/access_token"); n != tokenCalls {
		t.Errorf("a mismatched state still reached the token endpoint")
	}
	if a.cookies[refreshCookie] != nil {
		t.Errorf("a rejected login set a session cookie")
	}
}

func TestOAuthBadLoginCookieIsRejected(t *testing.T) {
	e := newOAuthEnv(t)
	e.putUser(alice)
	cases := map[string]func(string) string{
		"tampered": func(v string) string {
			raw, _ := base64.RawURLEncoding.DecodeString(v)
			raw[len(raw)/2] ^= 1
			return base64.RawURLEncoding.EncodeToString(raw)
		},
		"truncated":  func(v string) string { return v[:10] },
		"not base64": func(string) string { return "%%%" },
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			b := e.browser(t)
			cb := forgetest.Authorize(t, b.start("github"))
			u, _ := url.Parse(e.url + "/auth/")
			c := b.jar.Cookies(u)[0]
			b.jar.SetCookies(u, []*http.Cookie{{Name: loginCookie, Value: spoil(c.Value), Path: loginCookiePath}})
			a := b.get(cb.String())
			wantError(t, a, http.StatusBadRequest, "login_failed", "unreadable or was altered")
			wantLoginCookieCleared(t, a)
		})
	}
	t.Run("missing", func(t *testing.T) {
		cb := forgetest.Authorize(t, e.browser(t).start("github"))
		wantError(t, e.browser(t).get(cb.String()), http.StatusBadRequest, "login_failed", "no login in progress")
	})
	t.Run("expired", func(t *testing.T) {
		b := e.browser(t)
		cb := forgetest.Authorize(t, b.start("github"))
		e.clock.add(forge.DefaultLoginTTL + time.Second)
		wantError(t, b.get(cb.String()), http.StatusBadRequest, "login_failed", "expired")
	})
}

func TestOAuthReplayedCallbackIsRejected(t *testing.T) {
	e := newOAuthEnv(t)
	e.putUser(alice)
	b := e.browser(t)
	cb := forgetest.Authorize(t, b.start("gitlab"))
	u, _ := url.Parse(e.url + "/auth/")
	captured := b.jar.Cookies(u)[0].Value
	if a := b.get(cb.String()); a.status != http.StatusSeeOther {
		t.Fatalf("first callback: %d %s", a.status, a.body)
	}
	// The same browser: its login cookie is gone.
	wantError(t, b.get(cb.String()), http.StatusBadRequest, "login_failed", "no login in progress")
	// Someone who captured both the URL and the cookie: the code is spent.
	thief := e.browser(t)
	thief.jar.SetCookies(u, []*http.Cookie{{Name: loginCookie, Value: captured, Path: loginCookiePath}})
	a := thief.get(cb.String())
	wantError(t, a, http.StatusBadRequest, "login_failed", "already used")
	if a.cookies[refreshCookie] != nil {
		t.Errorf("a replayed callback got a session")
	}
}

func TestOAuthProviderErrors(t *testing.T) {
	e := newOAuthEnv(t)
	e.putUser(alice)
	e.fakes["github"].LogIn(0) // nobody signed in: the fake answers access_denied
	b := e.browser(t)
	a, _ := b.login("github")
	wantError(t, a, http.StatusBadRequest, "login_cancelled", "cancelled on the provider's page")
	wantLoginCookieCleared(t, a)

	cb := forgetest.Authorize(t, b.start("gitlab"))
	q := cb.Query()
	q.Set("error", "server_error")
	q.Set("error_description", "maintenance")
	cb.RawQuery = q.Encode()
	wantError(t, b.get(cb.String()), http.StatusBadGateway, "provider_rejected", "maintenance")
}

// signUpVerified makes a password account for alice@example.com.
func (e *oauthEnv) signUp(t *testing.T, verified bool) account.User {
	u, err := e.accounts.SignUp(context.Background(), "alice@example.com", "alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if verified {
		if err := e.accounts.MarkEmailVerified(context.Background(), u.ID); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func TestOAuthLinksOnlyThroughVerifiedEmail(t *testing.T) {
	t.Run("verified on both sides links", func(t *testing.T) {
		e := newOAuthEnv(t)
		pw := e.signUp(t, true)
		e.putUser(alice)
		b := e.browser(t)
		b.login("github")
		if me, _ := b.session(); me.ID != pw.ID {
			t.Errorf("login went to user %d, want the password account %d", me.ID, pw.ID)
		}
	})
	t.Run("unverified on the provider does not link", func(t *testing.T) {
		e := newOAuthEnv(t)
		pw := e.signUp(t, true)
		u := alice
		u.Emails = []forgetest.Email{{Address: "alice@example.com", Primary: true}}
		e.putUser(u)
		b := e.browser(t)
		b.login("gitlab")
		me, _ := b.session()
		if me.ID == pw.ID {
			t.Fatalf("an unverified provider email took over the password account")
		}
		got, _, _ := e.accounts.LoginWithIdentity(context.Background(), forge.Identity{Provider: "gitlab", UserID: alice.ID})
		if got.ID != me.ID || got.Email != "" {
			t.Errorf("the new account is %+v; want id %d without the unverified email", got, me.ID)
		}
	})
	t.Run("unverified here refuses", func(t *testing.T) {
		e := newOAuthEnv(t)
		e.signUp(t, false)
		e.putUser(alice)
		a, _ := e.browser(t).login("github")
		wantError(t, a, http.StatusConflict, "login_conflict", "has not verified it")
	})
}

func TestOAuthUnconfiguredProviders(t *testing.T) {
	bare := New(Config{})
	for _, tc := range []struct{ path, code, text string }{
		{"/auth/github/login", "not_configured", "GitHub login is not configured on this server"},
		{"/auth/gitlab/callback?code=x&state=y", "not_configured", "GitLab login is not configured on this server"},
		{"/auth/bitbucket/login", "not_found", `no login provider "bitbucket"; this server offers no login providers`},
	} {
		w := httptest.NewRecorder()
		bare.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
		wantError(t, answer{status: w.Code, body: w.Body.String()}, http.StatusNotFound, tc.code, tc.text)
	}
	e := newOAuthEnv(t)
	wantError(t, e.browser(t).get(e.url+"/auth/gitea/login"), http.StatusNotFound, "not_found", "this server offers: github, gitlab")
}

func TestOAuthLoginCookieIsSealedAndSecureOverHTTPS(t *testing.T) {
	gh := forgetest.NewGitHub(t, forgetest.Options{RedirectURL: CallbackURL("https://ci.example.com/", "github")})
	p, err := github.New(github.Config{ClientID: gh.Opts.ClientID, ClientSecret: gh.Opts.ClientSecret,
		RedirectURL: CallbackURL("https://ci.example.com/", "github"), BaseURL: gh.WebURL()})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOAuth(OAuthConfig{Providers: []forge.LoginProvider{p}, Accounts: &account.Service{},
		Secret: testSecret, PublicURL: "https://ci.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{OAuth: o})
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth/github/login", nil))
	resp := w.Result()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login start: %d", resp.StatusCode)
	}
	c := resp.Cookies()[0]
	if c.Name != loginCookie || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != loginCookiePath || c.MaxAge != 600 {
		t.Errorf("login cookie %+v: want Secure, HttpOnly, SameSite=Lax, path /auth/, Max-Age 600", c)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	state := loc.Query().Get("state")
	raw, _ := base64.RawURLEncoding.DecodeString(c.Value)
	if state == "" || bytes.Contains(raw, []byte(state)) || strings.Contains(c.Value, state) {
		t.Errorf("the login cookie shows its state %q in the clear", state)
	}
	req := httptest.NewRequest(http.MethodGet, "/auth/github/callback", nil)
	req.AddCookie(c)
	st, err := o.stateFrom(req)
	if err != nil || st.Value != state || st.Verifier == "" || bytes.Contains(raw, []byte(st.Verifier)) {
		t.Errorf("the sealed cookie opens to %+v (%v); want state %q and a hidden verifier", st, err, state)
	}
	if o2, _ := NewOAuth(OAuthConfig{Accounts: &account.Service{}, Secret: append([]byte("other-"), testSecret...), PublicURL: "https://x.test"}); o2 != nil {
		if _, err := o2.stateFrom(req); err == nil {
			t.Errorf("a server with another secret opened the login cookie")
		}
	}
}

func TestNewOAuthRejectsBadConfig(t *testing.T) {
	gh := forgetest.NewGitHub(t, forgetest.Options{})
	p, _ := github.New(github.Config{ClientID: "id", ClientSecret: "s", RedirectURL: "http://runbook.test/login/callback", BaseURL: gh.WebURL()})
	good := OAuthConfig{Providers: []forge.LoginProvider{p}, Accounts: &account.Service{}, Secret: testSecret, PublicURL: "http://runbook.test"}
	for name, spoil := range map[string]func(*OAuthConfig){
		"short secret":       func(c *OAuthConfig) { c.Secret = []byte("short") },
		"relative URL":       func(c *OAuthConfig) { c.PublicURL = "runbook.test" },
		"no accounts":        func(c *OAuthConfig) { c.Accounts = nil },
		"duplicate provider": func(c *OAuthConfig) { c.Providers = append(c.Providers, p) },
	} {
		c := good
		spoil(&c)
		if _, err := NewOAuth(c); err == nil {
			t.Errorf("%s: NewOAuth accepted %+v", name, c)
		}
	}
	if _, err := NewOAuth(good); err != nil {
		t.Errorf("NewOAuth(good): %v", err)
	}
}

// TestOAuthKeepsSecretsOutOfLogsAndBodies logs in through both providers,
// refreshes and fails once, then looks for every secret in the logs and
// in every response body and redirect the browser saw.
func TestOAuthKeepsSecretsOutOfLogsAndBodies(t *testing.T) {
	e := newOAuthEnv(t)
	e.putUser(alice)
	var secrets []string
	for _, provider := range []string{"github", "gitlab"} {
		b := e.browser(t)
		cb := forgetest.Authorize(t, b.start(provider))
		u, _ := url.Parse(e.url + "/auth/")
		req := httptest.NewRequest(http.MethodGet, "/auth/", nil)
		req.AddCookie(b.jar.Cookies(u)[0])
		st, err := e.srv.cfg.OAuth.stateFrom(req)
		if err != nil {
			t.Fatal(err)
		}
		a := b.get(cb.String())
		_, access := b.session()
		b.get(cb.String()) // a failure, logged
		// The access token is the refresh answer's purpose: only logs must lack it.
		if strings.Contains(e.logs.String(), access) {
			t.Errorf("the log holds an access token")
		}
		secrets = append(secrets, st.Verifier, cb.Query().Get("code"), a.cookies[refreshCookie].Value,
			e.fakes[provider].Opts.ClientSecret, string(testSecret))
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("a secret to look for is empty")
		}
		if strings.Contains(e.logs.String(), s) {
			t.Errorf("the log holds the secret %q", s)
		}
		for _, body := range e.bodies {
			if strings.Contains(body, s) {
				t.Errorf("a response holds the secret %q: %s", s, body)
			}
		}
	}
	if !strings.Contains(e.logs.String(), "oauth login failed") {
		t.Errorf("the failed callback was not logged: %s", e.logs.String())
	}
}

func TestOAuthBrowserSessionRefreshAndLogout(t *testing.T) {
	e := newOAuthEnv(t)
	e.putUser(alice)
	b := e.browser(t)
	b.login("github")
	api, _ := url.Parse(e.url + refreshCookiePath)
	first := b.jar.Cookies(api)[0].Value
	b.session()
	if b.jar.Cookies(api)[0].Value == first {
		t.Fatal("refresh did not rotate the cookie")
	}
	// A stolen, already rotated cookie revokes the family and is dropped.
	thief := e.browser(t)
	thief.jar.SetCookies(api, []*http.Cookie{{Name: refreshCookie, Value: first, Path: refreshCookiePath}})
	a := thief.do(http.MethodPost, e.url+"/api/v1/auth/refresh", "", "")
	if a.status != http.StatusUnauthorized || a.cookies[refreshCookie] == nil || a.cookies[refreshCookie].MaxAge >= 0 {
		t.Errorf("reused refresh cookie: %d %v %s; want 401 and the cookie deleted", a.status, a.cookies, a.body)
	}
	if a := b.do(http.MethodPost, e.url+"/api/v1/auth/refresh", "", ""); a.status != http.StatusUnauthorized {
		t.Errorf("the family survived a reused token: %d %s", a.status, a.body)
	}

	b2 := e.browser(t)
	b2.login("github")
	if a := b2.do(http.MethodPost, e.url+"/api/v1/auth/logout", "", ""); a.status != http.StatusNoContent || a.cookies[refreshCookie].MaxAge >= 0 {
		t.Errorf("cookie logout: %d %v %s", a.status, a.cookies, a.body)
	}
	// Without a cookie, an empty body is still an error that says what to send.
	wantError(t, b2.do(http.MethodPost, e.url+"/api/v1/auth/refresh", "", ""), http.StatusBadRequest, "bad_request", "refresh_token")
	// And the JSON body still works as before, its token answered in the body.
	_, tok, err := e.accounts.LoginWithIdentity(context.Background(), forge.Identity{Provider: "github", UserID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	a = b2.do(http.MethodPost, e.url+"/api/v1/auth/refresh", `{"refresh_token":"`+tok.RefreshToken+`"}`, "")
	var tv tokensView
	if json.Unmarshal([]byte(a.body), &tv); a.status != http.StatusOK || tv.RefreshToken == "" || a.cookies[refreshCookie] != nil {
		t.Errorf("JSON refresh: %d %s %v; want the new token in the body and no cookie", a.status, a.body, a.cookies)
	}
}

package server

// OAuth login over HTTP (ADR 0005). GET /auth/{provider}/login starts a
// forge.Flow and keeps its State in an encrypted cookie; the provider sends
// the browser back to GET /auth/{provider}/callback, which finishes the
// flow, logs the identity in and hands the browser its refresh token in an
// HttpOnly cookie. The single-page app then calls POST /api/v1/auth/refresh
// (which reads that cookie) for an access token, so no token ever travels
// in a URL.

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/forge"
)

const (
	loginCookie       = "runbook_login"   // the encrypted forge.State
	loginCookiePath   = "/auth/"          // the login and callback routes only
	refreshCookie     = "runbook_refresh" // a browser's refresh token
	refreshCookiePath = "/api/v1/auth/"   // refresh and logout only
	loginDoneURL      = "/#/login/done"   // where the web app picks the session up
	cookieKeyLabel    = "runbook oauth login cookie v1"
)

// IdentityLogins is what OAuth login needs of the account service.
type IdentityLogins interface {
	LoginWithIdentity(ctx context.Context, id forge.Identity) (account.User, account.Tokens, error)
}

// OAuthConfig configures OAuth login; see NewOAuth.
type OAuthConfig struct {
	Providers []forge.LoginProvider // each with RedirectURL = CallbackURL(PublicURL, name)
	Accounts  IdentityLogins
	// Secret is the server's secret (the token secret will do, ≥ 32 bytes).
	// The cookie key is derived from it under its own HKDF label, so it
	// never equals the key that signs access tokens.
	Secret []byte
	// PublicURL is where browsers reach the server, e.g.
	// https://ci.example.com; https makes the cookies Secure.
	PublicURL string
	TTL       time.Duration    // how long a login may take; zero means forge.DefaultLoginTTL
	Now       func() time.Time // nil means time.Now; set by tests
}

// OAuth serves the login routes of the configured providers. Build it with
// NewOAuth and put it in Config.OAuth.
type OAuth struct {
	flows    map[string]*forge.Flow
	accounts IdentityLogins
	aead     cipher.AEAD
	secure   bool
	ttl      time.Duration
}

var providerNameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// NewOAuth checks c and derives the cookie key.
func NewOAuth(c OAuthConfig) (*OAuth, error) {
	if len(c.Secret) < account.MinSecretLen {
		return nil, fmt.Errorf("oauth login: the server secret is %d bytes; it must be at least %d", len(c.Secret), account.MinSecretLen)
	}
	if c.Accounts == nil {
		return nil, errors.New("oauth login: no account service to log identities into")
	}
	pub, err := url.Parse(c.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return nil, fmt.Errorf("oauth login: the public URL %q is not an absolute http(s) URL like https://ci.example.com (set --public-url)", c.PublicURL)
	}
	if c.TTL <= 0 {
		c.TTL = forge.DefaultLoginTTL
	}
	key, err := hkdf.Key(sha256.New, c.Secret, nil, cookieKeyLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("oauth login: deriving the cookie key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	o := &OAuth{flows: map[string]*forge.Flow{}, accounts: c.Accounts, aead: aead, secure: pub.Scheme == "https", ttl: c.TTL}
	for _, p := range c.Providers {
		name := p.Name()
		if !providerNameRE.MatchString(name) {
			return nil, fmt.Errorf("oauth login: provider name %q must be 1 to 32 characters of a-z, 0-9 and -", name)
		}
		if o.flows[name] != nil {
			return nil, fmt.Errorf("oauth login: provider %q is configured twice", name)
		}
		o.flows[name] = &forge.Flow{Provider: p, TTL: c.TTL, Now: c.Now}
	}
	return o, nil
}

// CallbackURL is the redirect URL to register on the provider's OAuth app
// and to give its forge provider.
func CallbackURL(publicURL, provider string) string {
	return strings.TrimRight(publicURL, "/") + "/auth/" + provider + "/callback"
}

func (s *Server) oauthRoutes() {
	s.handle("GET /auth/{provider}/login", s.oauthLogin)
	s.handle("GET /auth/{provider}/callback", s.oauthCallback)
	s.handle("GET /api/v1/auth/providers", s.authProviders)
}

var providerTitles = map[string]string{"github": "GitHub", "gitlab": "GitLab"}

// oauthFlow finds the path's provider or answers 404.
func (s *Server) oauthFlow(w http.ResponseWriter, r *http.Request) (*forge.Flow, bool) {
	name := r.PathValue("provider")
	var offered []string
	if o := s.cfg.OAuth; o != nil {
		if f := o.flows[name]; f != nil {
			return f, true
		}
		for n := range o.flows {
			offered = append(offered, n)
		}
	}
	if title, known := providerTitles[name]; known {
		writeError(w, http.StatusNotFound, "not_configured", title+" login is not configured on this server")
		return nil, false
	}
	slices.Sort(offered)
	msg := "this server offers no login providers"
	if len(offered) > 0 {
		msg = "this server offers: " + strings.Join(offered, ", ")
	}
	writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no login provider %q; %s", forge.Redact(name), msg))
	return nil, false
}

func (s *Server) oauthLogin(w http.ResponseWriter, r *http.Request) {
	f, ok := s.oauthFlow(w, r)
	if !ok {
		return
	}
	o := s.cfg.OAuth
	authURL, st := f.Begin()
	sealed, err := o.seal(st)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: sealed, Path: loginCookiePath,
		MaxAge: int(o.ttl.Seconds()), HttpOnly: true, Secure: o.secure, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
}

func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) {
	f, ok := s.oauthFlow(w, r)
	if !ok {
		return
	}
	o := s.cfg.OAuth
	// A State is used once, whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: loginCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: o.secure, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	name := f.Provider.Name()
	gotState, code, err := forge.ParseCallback(name, r.URL.Query())
	if err != nil {
		s.loginFailed(w, r, name, err)
		return
	}
	st, err := o.stateFrom(r)
	if err != nil {
		s.loginFailed(w, r, name, fmt.Errorf("%s login: %w", name, err))
		return
	}
	id, err := f.Finish(r.Context(), st, gotState, code)
	if err != nil {
		s.loginFailed(w, r, name, err)
		return
	}
	u, t, err := o.accounts.LoginWithIdentity(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setRefreshCookie(w, t)
	s.log.Info("oauth login", "provider", name, "user_id", u.ID)
	http.Redirect(w, r, loginDoneURL, http.StatusSeeOther)
}

// loginFailed answers a failed login from errorTable; a failure the table
// does not know is the login's, not the server's. forge's error texts are
// written for the user and hold no secrets (providers' words are redacted).
func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, provider string, err error) {
	a, ok := lookup(err)
	if !a.misconfigured { // else fail logs it for the operator
		s.log.Info("oauth login failed", "provider", provider, "err", err)
	}
	if !ok {
		writeError(w, http.StatusBadRequest, "login_failed", err.Error())
		return
	}
	s.fail(w, r, err)
}

var errBadLoginCookie = errors.New("the login cookie is unreadable or was altered; start the login again")

// seal encrypts and authenticates st: it holds the PKCE verifier.
func (o *OAuth) seal(st forge.State) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, o.aead.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(o.aead.Seal(nonce, nonce, plain, []byte(loginCookie))), nil
}

// stateFrom opens the login cookie. A missing one is forge.ErrNoLogin; one
// that fails authentication is errBadLoginCookie.
func (o *OAuth) stateFrom(r *http.Request) (forge.State, error) {
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" {
		return forge.State{}, forge.ErrNoLogin
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	n := o.aead.NonceSize()
	if err != nil || len(raw) < n+o.aead.Overhead() {
		return forge.State{}, errBadLoginCookie
	}
	plain, err := o.aead.Open(nil, raw[:n], raw[n:], []byte(loginCookie))
	if err != nil {
		return forge.State{}, errBadLoginCookie
	}
	var st forge.State
	if err := json.Unmarshal(plain, &st); err != nil {
		return forge.State{}, errBadLoginCookie
	}
	return st, nil
}

func (s *Server) cookiesSecure() bool { return s.cfg.OAuth != nil && s.cfg.OAuth.secure }

// setRefreshCookie gives a browser its refresh token. SameSite=Strict: only
// the web app's own requests carry it, never a cross-site form.
func (s *Server) setRefreshCookie(w http.ResponseWriter, t account.Tokens) {
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Value: t.RefreshToken, Path: refreshCookiePath,
		Expires: t.RefreshExpiresAt, MaxAge: max(1, int(time.Until(t.RefreshExpiresAt).Seconds())),
		HttpOnly: true, Secure: s.cookiesSecure(), SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearRefreshCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Path: refreshCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: s.cookiesSecure(), SameSite: http.SameSiteStrictMode})
}

// refreshTokenIn reads the refresh token of a refresh or logout request:
// from the JSON body {"refresh_token": …} when it has one, else from the
// cookie an OAuth login set. fromCookie tells where, so that the answer
// goes back the same way.
func (s *Server) refreshTokenIn(w http.ResponseWriter, r *http.Request) (token string, fromCookie, ok bool) {
	body, ok := readBody(w, r, s.cfg.MaxBody, bodyLimitMsg(s.cfg.MaxBody))
	if !ok {
		return "", false, false
	}
	hasBody := len(bytes.TrimSpace(body)) > 0
	if hasBody {
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "the JSON body does not parse: "+err.Error())
			return "", false, false
		}
		if in.RefreshToken != "" {
			return in.RefreshToken, false, true
		}
	}
	if c, err := r.Cookie(refreshCookie); err == nil && c.Value != "" {
		return c.Value, true, true
	}
	if !hasBody {
		writeError(w, http.StatusBadRequest, "bad_request", `send {"refresh_token": "…"} as the JSON body, or the runbook_refresh cookie of a browser login`)
		return "", false, false
	}
	return "", false, true // {} without a cookie: the account service says why it fails
}

// refreshed is the answer to a refresh. A cookie's token is rotated in the
// cookie and left out of the body, so page scripts never see it.
func (s *Server) refreshed(w http.ResponseWriter, t account.Tokens, fromCookie bool) tokensView {
	v := viewTokens(t)
	if fromCookie {
		s.setRefreshCookie(w, t)
		v.RefreshToken = ""
	}
	return v
}

// refreshFailed drops a cookie whose token the account service refused,
// so the browser stops sending it; other failures may be transient.
func (s *Server) refreshFailed(w http.ResponseWriter, err error, fromCookie bool) {
	if fromCookie && errors.Is(err, account.ErrUnauthenticated) {
		s.clearRefreshCookie(w)
	}
}

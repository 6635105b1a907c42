package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/runbookhq/runbook/internal/account"
)

// decode reads a bounded JSON body into v, rejecting unknown fields.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readBody(w, r, s.cfg.MaxBody, bodyLimitMsg(s.cfg.MaxBody))
	if !ok {
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "the request needs a JSON body")
		return false
	}
	if at := jsonTooDeep(body, maxJSONDepth); at >= 0 {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("the JSON body nests deeper than %d levels (at byte %d)", maxJSONDepth, at))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the JSON body does not parse: "+err.Error())
		return false
	}
	return true
}

type userView struct {
	ID            int64  `json:"id"`
	Username      string `json:"username"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	TenantID      int64  `json:"tenant_id"`
}

type tokensView struct {
	TokenType        string    `json:"token_type"`
	AccessToken      string    `json:"access_token"`
	ExpiresIn        int64     `json:"expires_in"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

func viewTokens(t account.Tokens) tokensView {
	return tokensView{
		TokenType: "Bearer", AccessToken: t.AccessToken, ExpiresIn: int64(time.Until(t.AccessExpiresAt).Seconds()),
		AccessExpiresAt: t.AccessExpiresAt, RefreshToken: t.RefreshToken, RefreshExpiresAt: t.RefreshExpiresAt,
	}
}

func (s *Server) signUp(w http.ResponseWriter, r *http.Request) {
	var in struct{ Email, Username, Password string }
	if !s.decode(w, r, &in) {
		return
	}
	u, err := s.cfg.Accounts.SignUp(r.Context(), in.Email, in.Username, in.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]userView{"user": {ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, TenantID: u.TenantID}})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Login, Password string
		Cookie          bool // a browser's login: the refresh token goes in the HttpOnly cookie (ADR 0021)
	}
	if !s.decode(w, r, &in) {
		return
	}
	t, err := s.cfg.Accounts.Login(r.Context(), in.Login, in.Password, clientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.refreshed(w, t, in.Cookie))
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	token, fromCookie, ok := s.refreshTokenIn(w, r)
	if !ok {
		return
	}
	t, err := s.cfg.Accounts.Refresh(r.Context(), token)
	if err != nil {
		s.refreshFailed(w, err, fromCookie)
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.refreshed(w, t, fromCookie))
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	token, fromCookie, ok := s.refreshTokenIn(w, r)
	if !ok {
		return
	}
	if fromCookie {
		s.clearRefreshCookie(w)
	}
	if err := s.cfg.Accounts.Logout(r.Context(), token); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type membershipView struct {
	TenantID int64        `json:"tenant_id"`
	Name     string       `json:"name"`
	Role     account.Role `json:"role"`
	Personal bool         `json:"personal"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c call) {
	ms, err := s.cfg.Accounts.Memberships(r.Context(), c.who.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		ID          int64            `json:"id"`
		Username    string           `json:"username"`
		Memberships []membershipView `json:"memberships"`
	}{ID: c.who.UserID, Username: c.who.Username, Memberships: []membershipView{}}
	for _, m := range ms {
		out.Memberships = append(out.Memberships, membershipView{TenantID: m.Tenant.ID, Name: m.Tenant.Name, Role: m.Role, Personal: m.Personal})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request, c call) {
	var in struct{ Name string }
	if !s.decode(w, r, &in) {
		return
	}
	m, err := s.cfg.Accounts.CreateOrg(r.Context(), c.who.UserID, in.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, membershipView{TenantID: m.Tenant.ID, Name: m.Tenant.Name, Role: m.Role, Personal: m.Personal})
}

type patView struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Hint      string     `json:"hint"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func viewPAT(p account.PAT) patView {
	return patView{ID: p.ID, Name: p.Name, Hint: p.Hint, CreatedAt: p.CreatedAt, ExpiresAt: timePtr(p.ExpiresAt), RevokedAt: timePtr(p.RevokedAt)}
}

func (s *Server) createPAT(w http.ResponseWriter, r *http.Request, c call) {
	var in struct {
		Name          string `json:"name"`
		ExpiresInDays int    `json:"expires_in_days"` // 0: never
	}
	if !s.decode(w, r, &in) {
		return
	}
	if in.ExpiresInDays < 0 || in.ExpiresInDays > 3650 {
		writeError(w, http.StatusBadRequest, "bad_request", "expires_in_days must be from 0 (never) to 3650")
		return
	}
	var expires time.Time
	if in.ExpiresInDays > 0 {
		expires = time.Now().Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)
	}
	token, pat, err := s.cfg.Accounts.CreatePAT(r.Context(), c.who.UserID, in.Name, expires)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The only time the token is shown.
	writeJSON(w, http.StatusCreated, struct {
		Token string  `json:"token"`
		PAT   patView `json:"pat"`
	}{token, viewPAT(pat)})
}

func (s *Server) listPATs(w http.ResponseWriter, r *http.Request, c call) {
	pats, err := s.cfg.Accounts.PATs(r.Context(), c.who.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []patView{}
	for _, p := range pats {
		out = append(out, viewPAT(p))
	}
	writeJSON(w, http.StatusOK, map[string][]patView{"tokens": out})
}

func (s *Server) revokePAT(w http.ResponseWriter, r *http.Request, c call) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	if err := s.cfg.Accounts.RevokePAT(r.Context(), c.who.UserID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

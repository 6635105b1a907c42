package forgetest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// authorize approves the request for the signed-in user and redirects back
// with a code, as the provider does after the user clicks "Authorize".
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.Opts.ClientID {
		// Never redirect for an unknown client: the redirect URI is unvetted.
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = s.Opts.RedirectURL
	}
	if redirect != s.Opts.RedirectURL {
		http.Error(w, "redirect_uri is not the one registered for this application", http.StatusBadRequest)
		return
	}
	back := func(vals url.Values) {
		if st := q.Get("state"); st != "" {
			vals.Set("state", st)
		}
		http.Redirect(w, r, redirect+"?"+vals.Encode(), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	challenge := q.Get("code_challenge")
	if challenge == "" || q.Get("code_challenge_method") != "S256" {
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with code_challenge_method=S256 is required"}})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[s.loggedIn]; !ok {
		back(url.Values{"error": {"access_denied"}, "error_description": {"no user is signed in (forgetest: call LogIn)"}})
		return
	}
	code := randomString("code_")
	s.grants[code] = &grant{userID: s.loggedIn, redirectURI: q.Get("redirect_uri"),
		challenge: challenge, expires: time.Now().Add(s.Opts.CodeTTL)}
	back(url.Values{"code": {code}})
}

// token redeems a code. GitHub answers errors with HTTP 200 and its own
// error codes; GitLab (Doorkeeper) with 400/401 and RFC 6749 codes.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, r, "invalid_request", "invalid_request", "unreadable form")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.Opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.Opts.ClientSecret)) != 1 {
		s.tokenError(w, r, "incorrect_client_credentials", "invalid_client", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "authorization_code" {
		s.tokenError(w, r, "unsupported_grant_type", "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	code := r.PostForm.Get("code")
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[code]
	switch {
	case !ok || time.Now().After(g.expires):
		s.tokenError(w, r, "bad_verification_code", "invalid_grant", "The code passed is incorrect or expired.")
		return
	case g.used:
		delete(s.tokens, g.token)
		s.tokenError(w, r, "bad_verification_code", "invalid_grant", "The code has already been used; tokens issued with it are revoked.")
		return
	}
	g.used = true // burnt even if the checks below fail: a code gets one try
	if g.redirectURI != "" && r.PostForm.Get("redirect_uri") != g.redirectURI {
		s.tokenError(w, r, "redirect_uri_mismatch", "invalid_grant", "The redirect_uri MUST match the registered callback URL for this application.")
		return
	}
	if msg := checkVerifier(r.PostForm.Get("code_verifier"), g.challenge); msg != "" {
		s.tokenError(w, r, "invalid_grant", "invalid_grant", msg)
		return
	}
	g.token = randomString("tok_")
	s.tokens[g.token] = g.userID
	s.writeToken(w, r, g.token)
}

// checkVerifier applies RFC 7636 §4.6: BASE64URL(SHA256(verifier)) must
// equal the challenge. It returns what is wrong, or "".
func checkVerifier(verifier, challenge string) string {
	if verifier == "" {
		return "code_verifier is required: the authorization request carried a code_challenge"
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return "code_verifier must be 43 to 128 characters"
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) != 1 {
		return "code_verifier does not match the code_challenge"
	}
	return ""
}

func (s *Server) writeToken(w http.ResponseWriter, r *http.Request, tok string) {
	if s.Flavor == GitHub && !strings.Contains(r.Header.Get("Accept"), "json") {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(url.Values{"access_token": {tok}, "scope": {"read:user,user:email"}, "token_type": {"bearer"}}.Encode()))
		return
	}
	body := map[string]any{"access_token": tok, "token_type": "Bearer"}
	if s.Flavor == GitLab {
		body["expires_in"] = 7200
		body["refresh_token"] = randomString("refresh_")
		body["scope"] = "read_user"
		body["created_at"] = time.Now().Unix()
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) tokenError(w http.ResponseWriter, r *http.Request, githubCode, rfcCode, desc string) {
	if s.Flavor == GitHub {
		vals := url.Values{"error": {githubCode}, "error_description": {desc}}
		if strings.Contains(r.Header.Get("Accept"), "json") {
			writeJSON(w, http.StatusOK, map[string]string{"error": githubCode, "error_description": desc})
			return
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(vals.Encode()))
		return
	}
	status := http.StatusBadRequest
	if rfcCode == "invalid_client" {
		status = http.StatusUnauthorized
	}
	writeJSON(w, status, map[string]string{"error": rfcCode, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

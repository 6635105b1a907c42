package forgetest

import (
	"net/http"
	"strings"
	"time"
)

// bearer returns the user that the request's token belongs to, or answers
// 401 as the provider would.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) (User, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok && s.Flavor == GitHub {
		tok, ok = strings.CutPrefix(h, "token ")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, known := s.tokens[tok]
	u, exists := s.users[id]
	if !ok || tok == "" || !known || !exists {
		msg := "Bad credentials"
		if s.Flavor == GitLab {
			msg = "401 Unauthorized"
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": msg})
		return User{}, false
	}
	return u, true
}

func primary(u User) (Email, bool) {
	for _, e := range u.Emails {
		if e.Primary {
			return e, true
		}
	}
	return Email{}, false
}

func (s *Server) githubUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.bearer(w, r)
	if !ok {
		return
	}
	body := map[string]any{"id": u.ID, "login": u.Login, "name": u.Name, "avatar_url": u.AvatarURL, "type": "User", "email": nil}
	if e, ok := primary(u); ok && e.Verified {
		body["email"] = e.Address // GitHub's public email can only be a verified one
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) githubEmails(w http.ResponseWriter, r *http.Request) {
	u, ok := s.bearer(w, r)
	if !ok {
		return
	}
	if s.Opts.EmailsForbidden {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by integration"})
		return
	}
	list := []map[string]any{}
	for _, e := range u.Emails {
		list = append(list, map[string]any{"email": e.Address, "primary": e.Primary, "verified": e.Verified, "visibility": "private"})
	}
	writeJSON(w, http.StatusOK, list)
}

// gitlabUser serves GET /api/v4/user: email is the primary email, and
// confirmed_at is set once the user confirmed it.
func (s *Server) gitlabUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.bearer(w, r)
	if !ok {
		return
	}
	body := map[string]any{"id": u.ID, "username": u.Login, "name": u.Name, "avatar_url": u.AvatarURL,
		"state": "active", "email": "", "confirmed_at": nil}
	if e, ok := primary(u); ok {
		body["email"] = e.Address
		if e.Verified {
			body["confirmed_at"] = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC3339)
		}
	}
	writeJSON(w, http.StatusOK, body)
}

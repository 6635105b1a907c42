package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/runbookhq/runbook/internal/account"
)

// call is an authenticated request, inside one tenant for tenant routes.
type call struct {
	who    account.Principal
	tenant int64
}

// signedIn authenticates the caller.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if who, ok := s.authenticate(w, r); ok {
			h(w, r, call{who: who})
		}
	}
}

// member authenticates the caller and checks that it belongs to the
// {tenant} of the path. A tenant the caller is not in answers 404, like a
// tenant that does not exist.
func (s *Server) member(h func(http.ResponseWriter, *http.Request, call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		tenant, err := strconv.ParseInt(r.PathValue("tenant"), 10, 64)
		if err != nil || tenant <= 0 {
			notFound(w)
			return
		}
		key := memberKey{who.UserID, tenant}
		if _, ok := s.cache.members.Get(key); !ok {
			// One check per key at a time: when an entry expires under
			// load, hundreds of requests would otherwise ask at once.
			_, err, _ := s.cache.checks.Do(fmt.Sprint(key), func() (any, error) {
				return nil, s.cfg.Accounts.CheckMember(context.WithoutCancel(r.Context()), who.UserID, tenant)
			})
			if err != nil {
				s.fail(w, r, err) // not a member: not found, like a missing tenant
				return
			}
			s.cache.members.Add(key, struct{}{})
		}
		h(w, r, call{who: who, tenant: tenant})
	}
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (account.Principal, bool) {
	token, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="runbook"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in first: send Authorization: Bearer <access token or personal access token>")
		return account.Principal{}, false
	}
	who, err := s.cfg.Accounts.Authenticate(r.Context(), token)
	if err != nil {
		// The reason (expired, forged, revoked) is for the server log only;
		// the token itself never is.
		s.log.Info("rejected token", "path", r.URL.Path, "reason", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="runbook", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired: sign in again or refresh it")
		return account.Principal{}, false
	}
	return who, true
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// internal answers 500 without leaking the error, which may hold details of
// the database; the log has it.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; the server log has the details")
}

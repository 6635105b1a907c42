package server

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/failure"
	"github.com/runbookhq/runbook/internal/forge"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/workflow"
)

// errAnswer is how the API answers one kind of error.
type errAnswer struct {
	status int
	code   string
	// text replaces the error's own words; "" shows them (the packages
	// write them for people and keep secrets out of them).
	text string
	// private: text hides what the error says from tenants (another
	// tenant's object must look missing); operators' routes show it.
	private bool
	// misconfigured: the server's own configuration is at fault, so the
	// operator must hear of it in the log, not only the caller.
	misconfigured bool
}

// errorTable is the one map from the errors handlers meet to the API's
// answers. The first entry the error matches (errors.Is) wins: specific
// errors come before the kinds they wrap. An error matching none is
// internal (500, logged).
var errorTable = []struct {
	err error
	errAnswer
}{
	// Sign-in.
	{failure.ErrBadCredentials, errAnswer{status: http.StatusUnauthorized, code: "bad_credentials", text: failure.ErrBadCredentials.Error()}},
	{failure.ErrRateLimited, errAnswer{status: http.StatusTooManyRequests, code: "rate_limited"}},
	{failure.ErrUnauthenticated, errAnswer{status: http.StatusUnauthorized, code: "invalid_token"}},
	{failure.ErrForbidden, errAnswer{status: http.StatusForbidden, code: "forbidden"}},
	{forge.ErrAccessDenied, errAnswer{status: http.StatusBadRequest, code: "login_cancelled"}},
	{forge.ErrEmailNotVerifiedHere, errAnswer{status: http.StatusConflict, code: "login_conflict"}},
	{forge.ErrEmailAmbiguous, errAnswer{status: http.StatusConflict, code: "login_conflict"}},
	{forge.ErrProviderUnavailable, errAnswer{status: http.StatusBadGateway, code: "provider_unavailable"}},
	{forge.ErrClientRejected, errAnswer{status: http.StatusBadGateway, code: "provider_rejected", misconfigured: true}},
	{forge.ErrAuthorizeRejected, errAnswer{status: http.StatusBadGateway, code: "provider_rejected", misconfigured: true}},
	{forge.ErrTokenRejected, errAnswer{status: http.StatusBadGateway, code: "provider_rejected", misconfigured: true}},
	{forge.ErrInvalidIdentity, errAnswer{status: http.StatusBadGateway, code: "provider_rejected", misconfigured: true}},
	{forge.ErrNoLogin, errAnswer{status: http.StatusBadRequest, code: "login_failed"}},
	{forge.ErrWrongProvider, errAnswer{status: http.StatusBadRequest, code: "login_failed"}},
	{forge.ErrStateMismatch, errAnswer{status: http.StatusBadRequest, code: "login_failed"}},
	{forge.ErrLoginExpired, errAnswer{status: http.StatusBadRequest, code: "login_failed"}},
	{forge.ErrMissingCode, errAnswer{status: http.StatusBadRequest, code: "login_failed"}},
	{forge.ErrCodeRejected, errAnswer{status: http.StatusBadRequest, code: "login_failed"}},

	// GitHub: webhooks and projects.
	{github.ErrBadSignature, errAnswer{status: http.StatusUnauthorized, code: "bad_signature",
		text: "the X-Hub-Signature-256 does not match the body and the webhook secret"}},
	{github.ErrBadDelivery, errAnswer{status: http.StatusBadRequest, code: "bad_request"}},
	{github.ErrNoWebhookSecret, errAnswer{status: http.StatusServiceUnavailable, code: "not_configured", misconfigured: true}},
	{githubapp.ErrBadTrigger, errAnswer{status: http.StatusUnprocessableEntity, code: "invalid"}},
	{githubapp.ErrNoRun, errAnswer{status: http.StatusUnprocessableEntity, code: "invalid"}},
	{github.ErrNoBranch, errAnswer{status: http.StatusUnprocessableEntity, code: "invalid"}},
	{githubapp.ErrDisabled, errAnswer{status: http.StatusConflict, code: "disabled", text: "the project is disabled; enable it first"}},

	// Stored objects.
	{failure.ErrNotFound, errAnswer{status: http.StatusNotFound, code: "not_found", text: "not found", private: true}},
	{failure.ErrConflict, errAnswer{status: http.StatusConflict, code: "conflict"}},
	{failure.ErrInvalid, errAnswer{status: http.StatusBadRequest, code: "bad_request"}},
}

// lookup returns the answer to err from errorTable.
func lookup(err error) (errAnswer, bool) {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.errAnswer, true
		}
	}
	return errAnswer{}, false
}

// fail answers a handler's error from errorTable, after the errors that
// carry more than a kind (a workflow's problems with their positions, a
// body size, a retry time); then GitHub's refusals that the table does not
// name (with GitHub's words). Anything else is internal.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.failAs(w, r, err, false)
}

// failOperator is fail for an operator's routes: the words of a private
// answer are shown (an admin may learn that a tenant or plan is missing).
func (s *Server) failOperator(w http.ResponseWriter, r *http.Request, err error) {
	s.failAs(w, r, err, true)
}

func (s *Server) failAs(w http.ResponseWriter, r *http.Request, err error, operator bool) {
	var (
		list    workflow.ErrorList
		appErr  *github.AppError
		limited *account.RateLimitError
		tooBig  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &list):
		writeErrorDetails(w, http.StatusUnprocessableEntity, "invalid_workflow", list.Error(), problems(list))
		return
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the request body may be at most %d bytes", tooBig.Limit))
		return
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(limited.RetryAfter.Seconds()))))
	}
	a, ok := lookup(err)
	if !ok && errors.As(err, &appErr) {
		// GitHub refused for a reason of its own; the message is written
		// to be shown and says what to do.
		writeError(w, http.StatusBadGateway, "github", appErr.Msg)
		return
	}
	if !ok {
		s.internal(w, r, err)
		return
	}
	if a.misconfigured {
		s.log.Error("request failed: check the server's configuration", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	text := a.text
	if text == "" || (a.private && operator) {
		text = err.Error()
	}
	writeError(w, a.status, a.code, text)
}

// problem is one of a workflow's problems in an error's details.
type problem struct {
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

func problems(list workflow.ErrorList) []problem {
	out := make([]problem, len(list))
	for i, e := range list {
		out[i] = problem{Line: e.Pos.Line, Column: e.Pos.Col, Message: e.Msg}
	}
	return out
}

// notFound is the one answer for a missing object and for another tenant's
// object: the two must be indistinguishable.
func notFound(w http.ResponseWriter) {
	a, _ := lookup(failure.ErrNotFound)
	writeError(w, a.status, a.code, a.text)
}

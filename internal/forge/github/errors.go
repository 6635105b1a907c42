package github

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of the GitHub App. Each is wrapped in an *AppError that names the
// app or installation; test with errors.Is. Their texts are safe to show on
// a project in the API and UI: they never carry a key or a token.
var (
	ErrBadKey          = errors.New("the GitHub App private key is unusable")
	ErrKeyMismatch     = errors.New("GitHub rejected the app JWT")
	ErrClockSkew       = errors.New("this server's clock is off GitHub's")
	ErrNotInstalled    = errors.New("installation not found for this app")
	ErrSuspended       = errors.New("installation suspended on GitHub")
	ErrNoWorkflow      = errors.New("no .runbook.yml in the repository")
	ErrChecksForbidden = errors.New("the app may not write checks or commit statuses")
	ErrUnavailable     = errors.New("GitHub could not be reached or gave an unreadable answer; try again later")
)

// AppError is a failure with the sentence a person can act on (Msg) and its
// category (Kind, one of the errors above).
type AppError struct {
	Kind error
	Msg  string
	// SkewSeconds is how far this server's clock is ahead of GitHub's
	// (negative: behind), set with ErrClockSkew.
	SkewSeconds int64
}

func (e *AppError) Error() string { return e.Msg }
func (e *AppError) Unwrap() error { return e.Kind }

func keyMismatch(issuer string) error {
	return &AppError{Kind: ErrKeyMismatch, Msg: fmt.Sprintf("GitHub rejected the app JWT: the private key does not belong to app %s. Check that the app ID and the key come from the same GitHub App.", issuer)}
}

func clockSkew(secs int64) error {
	return &AppError{Kind: ErrClockSkew, SkewSeconds: secs, Msg: fmt.Sprintf("this server's clock is %d s off GitHub's; enable NTP", abs(secs))}
}

func notInstalled(id int64) error {
	return &AppError{Kind: ErrNotInstalled, Msg: fmt.Sprintf("installation %d not found for this app; was it uninstalled? Reinstall the app", id)}
}

func suspended(id int64) error {
	return &AppError{Kind: ErrSuspended, Msg: fmt.Sprintf("installation %d was suspended on GitHub: unsuspend it in the organization's settings", id)}
}

func noWorkflow(sha string) error {
	return &AppError{Kind: ErrNoWorkflow, Msg: fmt.Sprintf("no .runbook.yml at %s", sha)}
}

// unavailable wraps an unexpected answer; GitHub's own words are redacted
// of every secret given, because some answers echo the request.
func unavailable(call string, err error, secrets ...string) error {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	return &AppError{Kind: ErrUnavailable, Msg: fmt.Sprintf("github app: %s: %s", call, msg)}
}

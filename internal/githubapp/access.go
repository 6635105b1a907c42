package githubapp

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/runbookhq/runbook/internal/failure"
	"github.com/runbookhq/runbook/internal/forge/github"
)

// RepoAccess hands each step of a run that came from GitHub its repository
// and a token: the scheduler's StepEnv hook. It needs the app and the
// store only, not the Service (which submits runs to the scheduler), so it
// is built before both and the wiring has no cycle.
type RepoAccess struct {
	app  *github.App
	repo Repo
	log  *slog.Logger
}

// NewRepoAccess returns the StepEnv hook of app over repo; log nil means
// slog.Default().
func NewRepoAccess(app *github.App, repo Repo, log *slog.Logger) *RepoAccess {
	if log == nil {
		log = slog.Default()
	}
	return &RepoAccess{app: app, repo: repo, log: log.With("component", "github")}
}

// StepEnv is, for a step of a run that came from GitHub, the repository to
// clone and a token minted now, narrowed to that repository with
// contents:read. The token is never stored. Other runs get nothing.
func (a *RepoAccess) StepEnv(ctx context.Context, runID int64) (map[string]string, error) {
	l, err := a.repo.RunLinkByRun(ctx, runID)
	if errors.Is(err, failure.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tok, err := a.app.InstallationToken(ctx, l.InstallationID, github.ReadRepo(l.Repo))
	if err != nil {
		a.recordAppError(ctx, l.InstallationID, err)
		return nil, err
	}
	return map[string]string{
		"RUNBOOK_REPO_URL":   l.CloneURL,
		"RUNBOOK_REPO_SHA":   l.SHA,
		"RUNBOOK_REPO_REF":   l.Ref,
		"RUNBOOK_REPO_TOKEN": tok.Token.Reveal(),
	}, nil
}

// actionable are the App errors that stay until a person acts.
var actionable = []error{github.ErrBadKey, github.ErrKeyMismatch, github.ErrClockSkew, github.ErrNotInstalled,
	github.ErrSuspended, github.ErrChecksForbidden}

// recordAppError puts an App error a person must act on (wrong key, clock,
// uninstalled, suspended) on the installation and its projects, so the
// projects API shows it.
func (a *RepoAccess) recordAppError(ctx context.Context, installationID int64, err error) {
	var ae *github.AppError
	if !errors.As(err, &ae) || !slices.ContainsFunc(actionable, func(k error) bool { return errors.Is(err, k) }) {
		return // transient, or about one commit or branch: not the installation's state
	}
	if e := a.repo.SetInstallationError(context.WithoutCancel(ctx), installationID, ae.Msg); e != nil {
		a.log.Error("could not record a GitHub App error", "installation", installationID, "err", e)
	}
}

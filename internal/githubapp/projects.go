package githubapp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"

	"github.com/runbookhq/runbook/internal/failure"
)

// StepEnv is RepoAccess.StepEnv on the service's app and store.
func (s *Service) StepEnv(ctx context.Context, runID int64) (map[string]string, error) {
	return s.access.StepEnv(ctx, runID)
}

// Projects lists the tenant's projects.
func (s *Service) Projects(ctx context.Context, tenantID int64) ([]Project, error) {
	return s.cfg.Repo.Projects(ctx, tenantID)
}

// SetEnabled turns runs of the tenant's project on or off.
func (s *Service) SetEnabled(ctx context.Context, tenantID, projectID int64, enabled bool) (Project, error) {
	if err := s.cfg.Repo.SetProjectEnabled(ctx, tenantID, projectID, enabled); err != nil {
		return Project{}, err
	}
	return s.cfg.Repo.Project(ctx, tenantID, projectID)
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ErrBadTrigger: a manual trigger without a usable sha or branch.
var ErrBadTrigger = errors.New("give a full 40-hex sha, or a branch")

// ErrNoRun: a manual trigger created no run, because the workflow file at
// that commit is missing or refused (the project's error says why).
var ErrNoRun = fmt.Errorf("%w: no run was created", failure.ErrInvalid)

// Trigger runs the tenant's project by hand at sha, or at the head of
// branch (the default branch when both are empty). It returns the run id.
func (s *Service) Trigger(ctx context.Context, tenantID, projectID int64, branch, sha string) (int64, error) {
	p, err := s.cfg.Repo.Project(ctx, tenantID, projectID)
	if err != nil {
		return 0, err
	}
	if !p.Enabled {
		return 0, ErrDisabled
	}
	if sha != "" && !fullSHA.MatchString(sha) {
		return 0, fmt.Errorf("%w: %q is not a full commit sha", ErrBadTrigger, sha)
	}
	if sha == "" {
		if branch == "" {
			branch = p.DefaultBranch
		}
		owner, repo := splitName(p.FullName)
		if sha, err = s.cfg.App.BranchHead(ctx, p.InstallationID, owner, repo, branch); err != nil {
			s.recordAppError(ctx, p.InstallationID, err)
			return 0, err
		}
	}
	ev := Event{Key: "manual:" + rand.Text(), SHA: sha, Branch: branch, Event: "manual"}
	if branch != "" {
		ev.Ref = "refs/heads/" + branch
	}
	l, err := s.run(ctx, p, ev)
	if err != nil {
		return 0, err
	}
	if l.RunID == 0 {
		// A file with errors left them on the project: name them here too.
		if q, err := s.cfg.Repo.Project(ctx, tenantID, projectID); err == nil && q.LastError != "" {
			return 0, fmt.Errorf("%w for %s at %s:\n%s", ErrNoRun, p.FullName, sha, q.LastError)
		}
		return 0, fmt.Errorf("%w for %s at %s (see the check on GitHub)", ErrNoRun, p.FullName, sha)
	}
	return l.RunID, nil
}

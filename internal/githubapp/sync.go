package githubapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/store"
)

// syncInstallation applies an installation or installation_repositories
// event to the installation and its projects.
func (s *Service) syncInstallation(ctx context.Context, w github.Webhook) error {
	id, ch := w.InstallationID, w.Installation
	switch ch.Action {
	case "deleted":
		return s.cfg.Repo.DeleteInstallation(ctx, id)
	case "removed":
		ids := make([]int64, len(ch.Removed))
		for i, r := range ch.Removed {
			ids[i] = r.ID
		}
		if _, err := s.ensureInstallation(ctx, id, ch.Account); err != nil {
			return err
		}
		return s.cfg.Repo.RemoveProjects(ctx, id, ids)
	case "suspend":
		in, err := s.ensureInstallation(ctx, id, ch.Account)
		if err != nil {
			return err
		}
		in.SuspendedAt = s.cfg.Now()
		if err := s.cfg.Repo.PutInstallation(ctx, in); err != nil {
			return err
		}
		return s.cfg.Repo.SetInstallationError(ctx, id, suspendedMsg(id))
	case "unsuspend":
		in, err := s.ensureInstallation(ctx, id, ch.Account)
		if err != nil {
			return err
		}
		in.SuspendedAt = time.Time{}
		if err := s.cfg.Repo.PutInstallation(ctx, in); err != nil {
			return err
		}
	default: // created, added
		if _, err := s.ensureInstallation(ctx, id, ch.Account); err != nil {
			return err
		}
	}
	return s.listProjects(ctx, id)
}

func suspendedMsg(id int64) string {
	return fmt.Sprintf("installation %d was suspended on GitHub: unsuspend it in the organization's settings", id)
}

// ensureInstallation returns the stored installation, creating it for the
// default tenant when it is new (an app installed before Runbook knew of it).
func (s *Service) ensureInstallation(ctx context.Context, id int64, account string) (Installation, error) {
	in, err := s.cfg.Repo.Installation(ctx, id)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return in, err
	}
	in = Installation{ID: id, Account: account, TenantID: s.cfg.DefaultTenant}
	return in, s.cfg.Repo.PutInstallation(ctx, in)
}

// listProjects replaces the installation's projects with its repositories
// as GitHub lists them (one call per page of 100).
func (s *Service) listProjects(ctx context.Context, id int64) error {
	repos, err := s.cfg.App.ListInstallationRepos(ctx, id)
	if err != nil {
		s.recordAppError(ctx, id, err)
		return err
	}
	ps := make([]Project, len(repos))
	for i, r := range repos {
		ps[i] = Project{RepoID: r.ID, FullName: r.FullName, CloneURL: r.CloneURL, DefaultBranch: r.DefaultBranch}
	}
	if err := s.cfg.Repo.SyncProjects(ctx, id, ps, true); err != nil {
		return err
	}
	return s.cfg.Repo.SetInstallationError(ctx, id, "")
}

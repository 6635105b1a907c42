package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/githubapp"
)

// PutInstallation implements githubapp.Repo.
func (s *Store) PutInstallation(ctx context.Context, in githubapp.Installation) error {
	_, err := s.d.Writer().Exec(ctx, `INSERT INTO github_installations (id, account, tenant_id, suspended_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET account = excluded.account, tenant_id = excluded.tenant_id, suspended_at = excluded.suspended_at`,
		in.ID, in.Account, in.TenantID, NullTime(in.SuspendedAt))
	if err != nil {
		return s.errorf(err, "saving installation %d", in.ID)
	}
	return nil
}

// Installation implements githubapp.Repo.
func (s *Store) Installation(ctx context.Context, id int64) (githubapp.Installation, error) {
	in := githubapp.Installation{ID: id}
	err := s.d.Reader().QueryRow(ctx, `SELECT account, tenant_id, suspended_at, last_error FROM github_installations WHERE id = $1`, id).
		Scan(&in.Account, &in.TenantID, Time(&in.SuspendedAt), &in.LastError)
	return in, notFound(err, fmt.Sprintf("installation %d", id))
}

// DeleteInstallation implements githubapp.Repo.
func (s *Store) DeleteInstallation(ctx context.Context, id int64) error {
	_, err := s.d.Writer().Exec(ctx, `DELETE FROM github_installations WHERE id = $1`, id)
	return err
}

// SetInstallationError implements githubapp.Repo.
func (s *Store) SetInstallationError(ctx context.Context, id int64, msg string) error {
	return s.d.Write(ctx, func(tx Tx) error {
		b := &Batch{}
		b.Queue(`UPDATE github_installations SET last_error = $1 WHERE id = $2`, msg, id)
		b.Queue(`UPDATE github_projects SET last_error = $1 WHERE installation_id = $2`, msg, id)
		return tx.Send(ctx, b)
	})
}

// SyncProjects implements githubapp.Repo.
func (s *Store) SyncProjects(ctx context.Context, installationID int64, repos []githubapp.Project, replace bool) error {
	return s.d.Write(ctx, func(tx Tx) error {
		var tenant int64
		if err := tx.QueryRow(ctx, `SELECT tenant_id FROM github_installations WHERE id = $1`, installationID).Scan(&tenant); err != nil {
			return notFound(err, fmt.Sprintf("installation %d", installationID))
		}
		keep := make([]int64, len(repos))
		for i, p := range repos {
			keep[i] = p.RepoID
			if _, err := tx.Exec(ctx, `INSERT INTO github_projects (installation_id, tenant_id, repo_id, full_name, clone_url, default_branch)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo_id) DO UPDATE SET installation_id = excluded.installation_id,
				tenant_id = excluded.tenant_id, full_name = excluded.full_name, clone_url = excluded.clone_url,
				default_branch = excluded.default_branch`,
				installationID, tenant, p.RepoID, p.FullName, p.CloneURL, p.DefaultBranch); err != nil {
				return s.errorf(err, "saving project %s", p.FullName)
			}
		}
		if !replace {
			return nil
		}
		_, err := tx.Exec(ctx, `DELETE FROM github_projects WHERE installation_id = $1 AND repo_id NOT IN `+s.d.IDs("$2"),
			installationID, jsonIDs(keep))
		return err
	})
}

// jsonIDs encodes ids as a JSON array, for Dialect.IDs.
func jsonIDs(ids []int64) string {
	js, _ := json.Marshal(ids) // []int64 always encodes
	if ids == nil {
		return "[]"
	}
	return string(js)
}

// RemoveProjects implements githubapp.Repo.
func (s *Store) RemoveProjects(ctx context.Context, installationID int64, repoIDs []int64) error {
	_, err := s.d.Writer().Exec(ctx, `DELETE FROM github_projects WHERE installation_id = $1 AND repo_id IN `+s.d.IDs("$2"),
		installationID, jsonIDs(repoIDs))
	return err
}

const projectCols = `id, installation_id, tenant_id, repo_id, full_name, clone_url, default_branch, enabled, last_error`

func scanProject(row Row) (p githubapp.Project, err error) {
	return p, row.Scan(&p.ID, &p.InstallationID, &p.TenantID, &p.RepoID, &p.FullName, &p.CloneURL, &p.DefaultBranch, &p.Enabled, &p.LastError)
}

// Projects implements githubapp.Repo.
func (s *Store) Projects(ctx context.Context, tenantID int64) ([]githubapp.Project, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT `+projectCols+` FROM github_projects WHERE tenant_id = $1 ORDER BY full_name`, tenantID)
	out, err := collect(rows, err, scanProject)
	if err != nil {
		return nil, s.errorf(err, "listing projects")
	}
	return out, nil
}

// Project implements githubapp.Repo.
func (s *Store) Project(ctx context.Context, tenantID, id int64) (githubapp.Project, error) {
	p, err := scanProject(s.d.Reader().QueryRow(ctx, `SELECT `+projectCols+` FROM github_projects WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	return p, notFound(err, fmt.Sprintf("project %d", id))
}

// ProjectByRepo implements githubapp.Repo.
func (s *Store) ProjectByRepo(ctx context.Context, repoID int64) (githubapp.Project, error) {
	p, err := scanProject(s.d.Reader().QueryRow(ctx, `SELECT `+projectCols+` FROM github_projects WHERE repo_id = $1`, repoID))
	return p, notFound(err, fmt.Sprintf("project of repository %d", repoID))
}

// SetProjectEnabled implements githubapp.Repo.
func (s *Store) SetProjectEnabled(ctx context.Context, tenantID, id int64, enabled bool) error {
	n, err := s.d.Writer().Exec(ctx, `UPDATE github_projects SET enabled = $1 WHERE tenant_id = $2 AND id = $3`, enabled, tenantID, id)
	return one(n, err, fmt.Sprintf("project %d", id))
}

// SetProjectError implements githubapp.Repo.
func (s *Store) SetProjectError(ctx context.Context, id int64, msg string) error {
	_, err := s.d.Writer().Exec(ctx, `UPDATE github_projects SET last_error = $1 WHERE id = $2`, msg, id)
	return err
}

// RecordDelivery implements githubapp.Repo.
func (s *Store) RecordDelivery(ctx context.Context, d githubapp.Delivery) (bool, error) {
	n, err := s.d.Writer().Exec(ctx, `INSERT INTO github_deliveries (id, event, signature, body, received_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`, d.ID, d.Event, d.Signature, d.Body, d.ReceivedAt)
	if err != nil {
		return false, s.errorf(err, "recording delivery %s", d.ID)
	}
	return n == 1, nil
}

// PendingDeliveries implements githubapp.Repo.
func (s *Store) PendingDeliveries(ctx context.Context) ([]githubapp.Delivery, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT id, event, signature, body, received_at FROM github_deliveries
		WHERE processed_at IS NULL ORDER BY received_at, id`)
	out, err := collect(rows, err, func(r Row) (d githubapp.Delivery, err error) {
		return d, r.Scan(&d.ID, &d.Event, &d.Signature, &d.Body, Time(&d.ReceivedAt))
	})
	if err != nil {
		return nil, s.errorf(err, "listing deliveries")
	}
	return out, nil
}

// FinishDelivery implements githubapp.Repo.
func (s *Store) FinishDelivery(ctx context.Context, id string, at time.Time, errMsg string) error {
	_, err := s.d.Writer().Exec(ctx, `UPDATE github_deliveries SET processed_at = $1, error = $2 WHERE id = $3`, at, errMsg, id)
	return err
}

const linkCols = `key, COALESCE(run_id, 0), tenant_id, project_id, installation_id, owner, repo, sha, ref, clone_url,
	check_run_id, statuses, details_url, reported`

func scanLink(row Row) (l githubapp.RunLink, err error) {
	return l, row.Scan(&l.Key, &l.RunID, &l.TenantID, &l.ProjectID, &l.InstallationID, &l.Owner, &l.Repo, &l.SHA, &l.Ref,
		&l.CloneURL, &l.CheckRunID, &l.Statuses, &l.DetailsURL, &l.Reported)
}

// ClaimRunLink implements githubapp.Repo.
func (s *Store) ClaimRunLink(ctx context.Context, l githubapp.RunLink) (githubapp.RunLink, bool, error) {
	var n int64
	var got githubapp.RunLink
	err := s.d.Write(ctx, func(tx Tx) (err error) {
		n, err = tx.Exec(ctx, `INSERT INTO github_runs (key, run_id, tenant_id, project_id, installation_id, owner, repo, sha, ref,
			clone_url, check_run_id, statuses, details_url, reported) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (key) DO NOTHING`, l.Key, nullID(l.RunID), l.TenantID, l.ProjectID, l.InstallationID, l.Owner, l.Repo,
			l.SHA, l.Ref, l.CloneURL, l.CheckRunID, l.Statuses, l.DetailsURL, l.Reported)
		if err != nil {
			return s.errorf(err, "claiming run key %s", l.Key)
		}
		got, err = scanLink(tx.QueryRow(ctx, `SELECT `+linkCols+` FROM github_runs WHERE key = $1`, l.Key))
		return err
	})
	return got, n == 1, err
}

// UpdateRunLink implements githubapp.Repo.
func (s *Store) UpdateRunLink(ctx context.Context, l githubapp.RunLink) error {
	return s.update(ctx, "run key "+l.Key, `UPDATE github_runs SET run_id = $1, check_run_id = $2, statuses = $3, details_url = $4,
		reported = $5 WHERE key = $6`, nullID(l.RunID), l.CheckRunID, l.Statuses, l.DetailsURL, l.Reported, l.Key)
}

// RunLinkByRun implements githubapp.Repo.
func (s *Store) RunLinkByRun(ctx context.Context, runID int64) (githubapp.RunLink, error) {
	l, err := scanLink(s.d.Reader().QueryRow(ctx, `SELECT `+linkCols+` FROM github_runs WHERE run_id = $1`, runID))
	return l, notFound(err, fmt.Sprintf("GitHub link of run %d", runID))
}

// UnreportedRunLinks implements githubapp.Repo.
func (s *Store) UnreportedRunLinks(ctx context.Context) ([]githubapp.RunLink, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT `+linkCols+` FROM github_runs WHERE run_id IS NOT NULL AND reported <> 'completed' ORDER BY run_id`)
	out, err := collect(rows, err, scanLink)
	if err != nil {
		return nil, s.errorf(err, "listing unreported runs")
	}
	return out, nil
}

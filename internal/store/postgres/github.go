package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/githubapp"
)

var _ githubapp.Repo = (*Store)(nil)

// PutInstallation implements githubapp.Repo.
func (s *Store) PutInstallation(ctx context.Context, in githubapp.Installation) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO github_installations (id, account, tenant_id, suspended_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET account = excluded.account, tenant_id = excluded.tenant_id, suspended_at = excluded.suspended_at`,
		in.ID, in.Account, in.TenantID, nullTime(in.SuspendedAt))
	if err != nil {
		return fmt.Errorf("postgres: saving installation %d: %w", in.ID, err)
	}
	return nil
}

// Installation implements githubapp.Repo.
func (s *Store) Installation(ctx context.Context, id int64) (githubapp.Installation, error) {
	in := githubapp.Installation{ID: id}
	var susp *time.Time
	err := s.pool.QueryRow(ctx, `SELECT account, tenant_id, suspended_at, last_error FROM github_installations WHERE id = $1`, id).
		Scan(&in.Account, &in.TenantID, &susp, &in.LastError)
	in.SuspendedAt = fromNull(susp)
	return in, notFound(err, fmt.Sprintf("installation %d", id))
}

// DeleteInstallation implements githubapp.Repo.
func (s *Store) DeleteInstallation(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM github_installations WHERE id = $1`, id)
	return err
}

// SetInstallationError implements githubapp.Repo.
func (s *Store) SetInstallationError(ctx context.Context, id int64, msg string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE github_installations SET last_error = $1 WHERE id = $2`, msg, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE github_projects SET last_error = $1 WHERE installation_id = $2`, msg, id)
		return err
	})
}

// SyncProjects implements githubapp.Repo.
func (s *Store) SyncProjects(ctx context.Context, installationID int64, repos []githubapp.Project, replace bool) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
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
				return fmt.Errorf("postgres: saving project %s: %w", p.FullName, err)
			}
		}
		if replace {
			_, err := tx.Exec(ctx, `DELETE FROM github_projects WHERE installation_id = $1 AND NOT (repo_id = ANY($2))`, installationID, keep)
			return err
		}
		return nil
	})
}

// RemoveProjects implements githubapp.Repo.
func (s *Store) RemoveProjects(ctx context.Context, installationID int64, repoIDs []int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM github_projects WHERE installation_id = $1 AND repo_id = ANY($2)`, installationID, repoIDs)
	return err
}

const projectCols = `id, installation_id, tenant_id, repo_id, full_name, clone_url, default_branch, enabled, last_error`

func scanProject(row pgx.Row) (githubapp.Project, error) {
	var p githubapp.Project
	err := row.Scan(&p.ID, &p.InstallationID, &p.TenantID, &p.RepoID, &p.FullName, &p.CloneURL, &p.DefaultBranch, &p.Enabled, &p.LastError)
	return p, err
}

// Projects implements githubapp.Repo.
func (s *Store) Projects(ctx context.Context, tenantID int64) ([]githubapp.Project, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+projectCols+` FROM github_projects WHERE tenant_id = $1 ORDER BY full_name`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing projects: %w", err)
	}
	defer rows.Close()
	var out []githubapp.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Project implements githubapp.Repo.
func (s *Store) Project(ctx context.Context, tenantID, id int64) (githubapp.Project, error) {
	p, err := scanProject(s.pool.QueryRow(ctx, `SELECT `+projectCols+` FROM github_projects WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	return p, notFound(err, fmt.Sprintf("project %d", id))
}

// ProjectByRepo implements githubapp.Repo.
func (s *Store) ProjectByRepo(ctx context.Context, repoID int64) (githubapp.Project, error) {
	p, err := scanProject(s.pool.QueryRow(ctx, `SELECT `+projectCols+` FROM github_projects WHERE repo_id = $1`, repoID))
	return p, notFound(err, fmt.Sprintf("project of repository %d", repoID))
}

// SetProjectEnabled implements githubapp.Repo.
func (s *Store) SetProjectEnabled(ctx context.Context, tenantID, id int64, enabled bool) error {
	return s.update(ctx, fmt.Sprintf("project %d", id), `UPDATE github_projects SET enabled = $1 WHERE tenant_id = $2 AND id = $3`, enabled, tenantID, id)
}

// SetProjectError implements githubapp.Repo.
func (s *Store) SetProjectError(ctx context.Context, id int64, msg string) error {
	_, err := s.pool.Exec(ctx, `UPDATE github_projects SET last_error = $1 WHERE id = $2`, msg, id)
	return err
}

// RecordDelivery implements githubapp.Repo.
func (s *Store) RecordDelivery(ctx context.Context, d githubapp.Delivery) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO github_deliveries (id, event, signature, body, received_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`, d.ID, d.Event, d.Signature, d.Body, d.ReceivedAt)
	if err != nil {
		return false, fmt.Errorf("postgres: recording delivery %s: %w", d.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// PendingDeliveries implements githubapp.Repo.
func (s *Store) PendingDeliveries(ctx context.Context) ([]githubapp.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, event, signature, body, received_at FROM github_deliveries
		WHERE processed_at IS NULL ORDER BY received_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing deliveries: %w", err)
	}
	defer rows.Close()
	var out []githubapp.Delivery
	for rows.Next() {
		var d githubapp.Delivery
		if err := rows.Scan(&d.ID, &d.Event, &d.Signature, &d.Body, &d.ReceivedAt); err != nil {
			return nil, err
		}
		d.ReceivedAt = d.ReceivedAt.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// FinishDelivery implements githubapp.Repo.
func (s *Store) FinishDelivery(ctx context.Context, id string, at time.Time, errMsg string) error {
	_, err := s.pool.Exec(ctx, `UPDATE github_deliveries SET processed_at = $1, error = $2 WHERE id = $3`, at, errMsg, id)
	return err
}

const linkCols = `key, COALESCE(run_id, 0), tenant_id, project_id, installation_id, owner, repo, sha, ref, clone_url,
	check_run_id, statuses, details_url, reported`

func scanLink(row pgx.Row) (githubapp.RunLink, error) {
	var l githubapp.RunLink
	err := row.Scan(&l.Key, &l.RunID, &l.TenantID, &l.ProjectID, &l.InstallationID, &l.Owner, &l.Repo, &l.SHA, &l.Ref,
		&l.CloneURL, &l.CheckRunID, &l.Statuses, &l.DetailsURL, &l.Reported)
	return l, err
}

// ClaimRunLink implements githubapp.Repo.
func (s *Store) ClaimRunLink(ctx context.Context, l githubapp.RunLink) (githubapp.RunLink, bool, error) {
	var isNew bool
	var got githubapp.RunLink
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO github_runs (key, run_id, tenant_id, project_id, installation_id, owner, repo, sha, ref,
			clone_url, check_run_id, statuses, details_url, reported) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (key) DO NOTHING`, l.Key, nullID(l.RunID), l.TenantID, l.ProjectID, l.InstallationID, l.Owner, l.Repo,
			l.SHA, l.Ref, l.CloneURL, l.CheckRunID, l.Statuses, l.DetailsURL, l.Reported)
		if err != nil {
			return fmt.Errorf("postgres: claiming run key %s: %w", l.Key, err)
		}
		isNew = tag.RowsAffected() == 1
		got, err = scanLink(tx.QueryRow(ctx, `SELECT `+linkCols+` FROM github_runs WHERE key = $1`, l.Key))
		return err
	})
	return got, isNew, err
}

// UpdateRunLink implements githubapp.Repo.
func (s *Store) UpdateRunLink(ctx context.Context, l githubapp.RunLink) error {
	return s.update(ctx, "run key "+l.Key, `UPDATE github_runs SET run_id = $1, check_run_id = $2, statuses = $3, details_url = $4,
		reported = $5 WHERE key = $6`, nullID(l.RunID), l.CheckRunID, l.Statuses, l.DetailsURL, l.Reported, l.Key)
}

// RunLinkByRun implements githubapp.Repo.
func (s *Store) RunLinkByRun(ctx context.Context, runID int64) (githubapp.RunLink, error) {
	l, err := scanLink(s.pool.QueryRow(ctx, `SELECT `+linkCols+` FROM github_runs WHERE run_id = $1`, runID))
	return l, notFound(err, fmt.Sprintf("GitHub link of run %d", runID))
}

// UnreportedRunLinks implements githubapp.Repo.
func (s *Store) UnreportedRunLinks(ctx context.Context) ([]githubapp.RunLink, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+linkCols+` FROM github_runs WHERE run_id IS NOT NULL AND reported <> 'completed' ORDER BY run_id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing unreported runs: %w", err)
	}
	defer rows.Close()
	var out []githubapp.RunLink
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

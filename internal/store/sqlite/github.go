package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/githubapp"
)

var _ githubapp.Repo = (*Store)(nil)

// PutInstallation implements githubapp.Repo.
func (s *Store) PutInstallation(ctx context.Context, in githubapp.Installation) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO github_installations (id, account, tenant_id, suspended_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET account = excluded.account, tenant_id = excluded.tenant_id, suspended_at = excluded.suspended_at`,
			in.ID, in.Account, in.TenantID, micros(in.SuspendedAt))
		if err != nil {
			return fmt.Errorf("sqlite: saving installation %d: %w", in.ID, err)
		}
		return nil
	})
}

// Installation implements githubapp.Repo.
func (s *Store) Installation(ctx context.Context, id int64) (githubapp.Installation, error) {
	in := githubapp.Installation{ID: id}
	var susp sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT account, tenant_id, suspended_at, last_error FROM github_installations WHERE id = ?`, id).
		Scan(&in.Account, &in.TenantID, &susp, &in.LastError)
	in.SuspendedAt = fromMicros(susp)
	return in, notFound(err, fmt.Sprintf("installation %d", id))
}

// DeleteInstallation implements githubapp.Repo.
func (s *Store) DeleteInstallation(ctx context.Context, id int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM github_installations WHERE id = ?`, id)
		return err
	})
}

// SetInstallationError implements githubapp.Repo.
func (s *Store) SetInstallationError(ctx context.Context, id int64, msg string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE github_installations SET last_error = ? WHERE id = ?`, msg, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE github_projects SET last_error = ? WHERE installation_id = ?`, msg, id)
		return err
	})
}

// SyncProjects implements githubapp.Repo.
func (s *Store) SyncProjects(ctx context.Context, installationID int64, repos []githubapp.Project, replace bool) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var tenant int64
		if err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM github_installations WHERE id = ?`, installationID).Scan(&tenant); err != nil {
			return notFound(err, fmt.Sprintf("installation %d", installationID))
		}
		for _, p := range repos {
			if _, err := tx.ExecContext(ctx, `INSERT INTO github_projects (installation_id, tenant_id, repo_id, full_name, clone_url, default_branch)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repo_id) DO UPDATE SET installation_id = excluded.installation_id,
				tenant_id = excluded.tenant_id, full_name = excluded.full_name, clone_url = excluded.clone_url,
				default_branch = excluded.default_branch`,
				installationID, tenant, p.RepoID, p.FullName, p.CloneURL, p.DefaultBranch); err != nil {
				return fmt.Errorf("sqlite: saving project %s: %w", p.FullName, err)
			}
		}
		if replace {
			keep := make([]int64, len(repos))
			for i, p := range repos {
				keep[i] = p.RepoID
			}
			ids, _ := json.Marshal(keep)
			_, err := tx.ExecContext(ctx, `DELETE FROM github_projects WHERE installation_id = ?
				AND repo_id NOT IN (SELECT value FROM json_each(?))`, installationID, string(ids))
			return err
		}
		return nil
	})
}

// RemoveProjects implements githubapp.Repo.
func (s *Store) RemoveProjects(ctx context.Context, installationID int64, repoIDs []int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, id := range repoIDs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM github_projects WHERE installation_id = ? AND repo_id = ?`, installationID, id); err != nil {
				return err
			}
		}
		return nil
	})
}

const projectCols = `id, installation_id, tenant_id, repo_id, full_name, clone_url, default_branch, enabled, last_error`

func scanProject(row interface{ Scan(...any) error }) (githubapp.Project, error) {
	var p githubapp.Project
	err := row.Scan(&p.ID, &p.InstallationID, &p.TenantID, &p.RepoID, &p.FullName, &p.CloneURL, &p.DefaultBranch, &p.Enabled, &p.LastError)
	return p, err
}

// Projects implements githubapp.Repo.
func (s *Store) Projects(ctx context.Context, tenantID int64) ([]githubapp.Project, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+projectCols+` FROM github_projects WHERE tenant_id = ? ORDER BY full_name`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing projects: %w", err)
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
	p, err := scanProject(s.r.QueryRowContext(ctx, `SELECT `+projectCols+` FROM github_projects WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return p, notFound(err, fmt.Sprintf("project %d", id))
}

// ProjectByRepo implements githubapp.Repo.
func (s *Store) ProjectByRepo(ctx context.Context, repoID int64) (githubapp.Project, error) {
	p, err := scanProject(s.r.QueryRowContext(ctx, `SELECT `+projectCols+` FROM github_projects WHERE repo_id = ?`, repoID))
	return p, notFound(err, fmt.Sprintf("project of repository %d", repoID))
}

// SetProjectEnabled implements githubapp.Repo.
func (s *Store) SetProjectEnabled(ctx context.Context, tenantID, id int64, enabled bool) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE github_projects SET enabled = ? WHERE tenant_id = ? AND id = ?`, enabled, tenantID, id)
		if err != nil {
			return err
		}
		return oneRow(res, fmt.Sprintf("project %d", id))
	})
}

// SetProjectError implements githubapp.Repo.
func (s *Store) SetProjectError(ctx context.Context, id int64, msg string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE github_projects SET last_error = ? WHERE id = ?`, msg, id)
		return err
	})
}

func oneRow(res sql.Result, what string) error {
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound(sql.ErrNoRows, what)
	}
	return nil
}

// RecordDelivery implements githubapp.Repo.
func (s *Store) RecordDelivery(ctx context.Context, d githubapp.Delivery) (bool, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO github_deliveries (id, event, signature, body, received_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, d.ID, d.Event, d.Signature, d.Body, d.ReceivedAt.UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: recording delivery %s: %w", d.ID, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// PendingDeliveries implements githubapp.Repo.
func (s *Store) PendingDeliveries(ctx context.Context) ([]githubapp.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, event, signature, body, received_at FROM github_deliveries
		WHERE processed_at IS NULL ORDER BY received_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing deliveries: %w", err)
	}
	defer rows.Close()
	var out []githubapp.Delivery
	for rows.Next() {
		var d githubapp.Delivery
		var at int64
		if err := rows.Scan(&d.ID, &d.Event, &d.Signature, &d.Body, &at); err != nil {
			return nil, err
		}
		d.ReceivedAt = time.UnixMicro(at).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// FinishDelivery implements githubapp.Repo.
func (s *Store) FinishDelivery(ctx context.Context, id string, at time.Time, errMsg string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE github_deliveries SET processed_at = ?, error = ? WHERE id = ?`, at.UnixMicro(), errMsg, id)
		return err
	})
}

const linkCols = `key, COALESCE(run_id, 0), tenant_id, project_id, installation_id, owner, repo, sha, ref, clone_url,
	check_run_id, statuses, details_url, reported`

func scanLink(row interface{ Scan(...any) error }) (githubapp.RunLink, error) {
	var l githubapp.RunLink
	err := row.Scan(&l.Key, &l.RunID, &l.TenantID, &l.ProjectID, &l.InstallationID, &l.Owner, &l.Repo, &l.SHA, &l.Ref,
		&l.CloneURL, &l.CheckRunID, &l.Statuses, &l.DetailsURL, &l.Reported)
	return l, err
}

// ClaimRunLink implements githubapp.Repo.
func (s *Store) ClaimRunLink(ctx context.Context, l githubapp.RunLink) (githubapp.RunLink, bool, error) {
	var n int64
	var got githubapp.RunLink
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO github_runs (key, run_id, tenant_id, project_id, installation_id, owner, repo, sha, ref,
			clone_url, check_run_id, statuses, details_url, reported) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO NOTHING`, l.Key, nullID(l.RunID), l.TenantID, l.ProjectID, l.InstallationID, l.Owner, l.Repo,
			l.SHA, l.Ref, l.CloneURL, l.CheckRunID, l.Statuses, l.DetailsURL, l.Reported)
		if err != nil {
			return fmt.Errorf("sqlite: claiming run key %s: %w", l.Key, err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		got, err = scanLink(tx.QueryRowContext(ctx, `SELECT `+linkCols+` FROM github_runs WHERE key = ?`, l.Key))
		return err
	})
	return got, n == 1, err
}

// UpdateRunLink implements githubapp.Repo.
func (s *Store) UpdateRunLink(ctx context.Context, l githubapp.RunLink) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE github_runs SET run_id = ?, check_run_id = ?, statuses = ?, details_url = ?, reported = ?
			WHERE key = ?`, nullID(l.RunID), l.CheckRunID, l.Statuses, l.DetailsURL, l.Reported, l.Key)
		if err != nil {
			return fmt.Errorf("sqlite: saving run key %s: %w", l.Key, err)
		}
		return oneRow(res, "run key "+l.Key)
	})
}

// RunLinkByRun implements githubapp.Repo.
func (s *Store) RunLinkByRun(ctx context.Context, runID int64) (githubapp.RunLink, error) {
	l, err := scanLink(s.r.QueryRowContext(ctx, `SELECT `+linkCols+` FROM github_runs WHERE run_id = ?`, runID))
	return l, notFound(err, fmt.Sprintf("GitHub link of run %d", runID))
}

// UnreportedRunLinks implements githubapp.Repo.
func (s *Store) UnreportedRunLinks(ctx context.Context) ([]githubapp.RunLink, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+linkCols+` FROM github_runs WHERE run_id IS NOT NULL AND reported <> 'completed' ORDER BY run_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing unreported runs: %w", err)
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

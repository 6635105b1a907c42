package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, name string) (store.Tenant, error) {
	t := store.Tenant{Name: name, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO tenants (name, created_at) VALUES (?, ?) RETURNING id`,
			name, t.CreatedAt.UnixMicro()).Scan(&t.ID)
	})
	if isCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
		return store.Tenant{}, fmt.Errorf("%w: a tenant named %q already exists", store.ErrConflict, name)
	}
	if err != nil {
		return store.Tenant{}, fmt.Errorf("sqlite: creating tenant %q: %w", name, err)
	}
	return t, nil
}

// CreateRun implements store.Store.
func (s *Store) CreateRun(ctx context.Context, nr store.NewRun) (store.Run, error) {
	now := s.now().UTC()
	p, err := store.Prepare(nr, now)
	if err != nil {
		return store.Run{}, err
	}
	vars, err := json.Marshal(p.Vars)
	if err != nil {
		return store.Run{}, fmt.Errorf("sqlite: encoding run vars: %w", err)
	}
	var id int64
	err = s.write(ctx, func(tx *sql.Tx) (err error) {
		id, err = s.insertRun(ctx, tx, p, vars, now, quota.Admitted)
		return err
	})
	if err != nil {
		return store.Run{}, s.createErr(err, nr)
	}
	s.cache.Put(id, 0, p.Workflow, p.State, p.StateJSON)
	return s.GetRun(ctx, p.TenantID, id)
}

// insertRun writes a new run and its steps.
func (s *Store) insertRun(ctx context.Context, tx *sql.Tx, p store.PreparedRun, vars []byte, now time.Time, ad quota.Admission) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO runs (tenant_id, project_id, file, source, vars, branch, trigger,
		status, reason, requested_at, created_at, state, last_seq, admission)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, 0, ?) RETURNING id`,
		p.TenantID, nullID(p.ProjectID), p.File, p.Source, string(vars), p.Vars.Branch, p.Trigger,
		engine.RunQueued, p.RequestedAt.UnixMicro(), now.UnixMicro(), string(p.StateJSON), ad).Scan(&id)
	if err != nil {
		return 0, err
	}
	for i, st := range p.Steps {
		deps, err := json.Marshal(st.DependsOn)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO steps (run_id, idx, name, depends_on, status, attempt, reason)
			VALUES (?, ?, ?, ?, ?, 0, '')`, id, i, st.Name, string(deps), st.Status); err != nil {
			return 0, err
		}
	}
	return id, linkRun(ctx, tx, p.LinkKey, id)
}

// linkRun points the forge link named key, if any, at run id.
func linkRun(ctx context.Context, tx *sql.Tx, key string, id int64) error {
	if key == "" {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE github_runs SET run_id = ? WHERE key = ?`, id, key)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("%w: forge link %q of the new run (%v)", store.ErrNotFound, key, err)
	}
	return nil
}

func (s *Store) createErr(err error, nr store.NewRun) error {
	if isCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
		return fmt.Errorf("%w: tenant %d does not exist", store.ErrNotFound, nr.TenantID)
	}
	if errors.Is(err, store.ErrRejected) || errors.Is(err, store.ErrNotFound) {
		return err
	}
	return fmt.Errorf("sqlite: creating a run of %s: %w", nr.File, err)
}

const runCols = `id, tenant_id, project_id, file, vars, trigger, status, reason,
	requested_at, created_at, started_at, finished_at, last_seq, admission`

// scanRun reads runCols, then extra.
func scanRun(sc interface{ Scan(...any) error }, extra ...any) (store.Run, error) {
	var (
		r                                     store.Run
		project                               sql.NullInt64
		vars                                  string
		requested, created, started, finished sql.NullInt64
	)
	err := sc.Scan(append([]any{&r.ID, &r.TenantID, &project, &r.File, &vars, &r.Trigger, &r.Status, &r.Reason,
		&requested, &created, &started, &finished, &r.LastSeq, &r.Admission}, extra...)...)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(vars), &r.Vars); err != nil {
		return r, fmt.Errorf("decoding the vars of run %d: %w", r.ID, err)
	}
	r.ProjectID = project.Int64
	r.RequestedAt, r.CreatedAt = fromMicros(requested), fromMicros(created)
	r.StartedAt, r.FinishedAt = fromMicros(started), fromMicros(finished)
	return r, nil
}

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, tenantID, runID int64) (store.Run, error) {
	return s.getRun(ctx, tenantID, runID, position)
}

// getRun is GetRun with pos computing the run's place in the line.
func (s *Store) getRun(ctx context.Context, tenantID, runID int64, pos func(context.Context, *sql.Tx, store.Run) (int, error)) (store.Run, error) {
	var r store.Run
	err := s.read(ctx, func(tx *sql.Tx) error {
		var src []byte
		row := tx.QueryRowContext(ctx, `SELECT `+runCols+`, source FROM runs WHERE id = ? AND tenant_id = ?`, runID, tenantID)
		var err error
		if r, err = scanRun(row, &src); err != nil {
			return err
		}
		r.Source = src
		if r.Steps, err = loadSteps(ctx, tx, runID); err != nil {
			return err
		}
		r.Position, err = pos(ctx, tx, r)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Run{}, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return store.Run{}, fmt.Errorf("sqlite: reading run %d: %w", runID, err)
	}
	if r.Source == nil {
		r.Source = []byte{}
	}
	return r, nil
}

func loadSteps(ctx context.Context, tx *sql.Tx, runID int64) ([]store.Step, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, depends_on, status, attempt, exit_code, reason,
		queued_at, started_at, finished_at, waiting_reason FROM steps WHERE run_id = ? ORDER BY idx`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var steps []store.Step
	for rows.Next() {
		var (
			st                         store.Step
			deps                       string
			exit, queued, started, fin sql.NullInt64
		)
		if err := rows.Scan(&st.Name, &deps, &st.Status, &st.Attempt, &exit, &st.Reason, &queued, &started, &fin, &st.WaitingReason); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(deps), &st.DependsOn); err != nil {
			return nil, fmt.Errorf("decoding the dependencies of step %q: %w", st.Name, err)
		}
		if exit.Valid {
			code := int(exit.Int64)
			st.ExitCode = &code
		}
		st.QueuedAt, st.StartedAt, st.FinishedAt = fromMicros(queued), fromMicros(started), fromMicros(fin)
		steps = append(steps, st)
	}
	return steps, rows.Err()
}

// ListRuns implements store.Store.
func (s *Store) ListRuns(ctx context.Context, tenantID int64, f store.RunFilter, p store.Page) (store.RunPage, error) {
	size, err := p.Size()
	if err != nil {
		return store.RunPage{}, err
	}
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return store.RunPage{}, err
	}
	q, args := `SELECT `+runCols+` FROM runs WHERE tenant_id = ?`, []any{tenantID}
	if f.Status != "" {
		q, args = q+` AND status = ?`, append(args, f.Status)
	}
	if f.ProjectID != 0 {
		q, args = q+` AND project_id = ?`, append(args, f.ProjectID)
	}
	if f.Branch != "" {
		q, args = q+` AND branch = ?`, append(args, f.Branch)
	}
	if after > 0 {
		q, args = q+` AND id < ?`, append(args, after)
	}
	q, args = q+` ORDER BY id DESC LIMIT ?`, append(args, size+1)
	var page store.RunPage
	err = s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				return err
			}
			page.Runs = append(page.Runs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return store.RunPage{}, fmt.Errorf("sqlite: listing runs: %w", err)
	}
	if len(page.Runs) > size {
		page.Runs = page.Runs[:size]
		page.Next = store.EncodeCursor(page.Runs[size-1].ID)
	}
	return page, nil
}

// Events implements store.Store.
func (s *Store) Events(ctx context.Context, tenantID, runID, afterSeq int64) ([]store.Event, error) {
	var evs []store.Event
	err := s.read(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ? AND tenant_id = ?`, runID, tenantID).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq`, runID, afterSeq)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ev := store.Event{RunID: runID}
			var body string
			if err := rows.Scan(&ev.Seq, &body); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(body), &ev.Event); err != nil {
				return fmt.Errorf("decoding event %d: %w", ev.Seq, err)
			}
			evs = append(evs, ev)
		}
		return rows.Err()
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading the events of run %d: %w", runID, err)
	}
	return evs, nil
}

// RunsInProgress implements store.Store.
func (s *Store) RunsInProgress(ctx context.Context) ([]store.Run, error) {
	var runs []store.Run
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+runCols+` FROM runs WHERE status IN ('queued', 'running') ORDER BY id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				rows.Close()
				return err
			}
			runs = append(runs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range runs {
			if runs[i].Steps, err = loadSteps(ctx, tx, runs[i].ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing runs in progress: %w", err)
	}
	return runs, nil
}

func isCode(err error, code int) bool {
	var e *msqlite.Error
	return errors.As(err, &e) && e.Code() == code
}

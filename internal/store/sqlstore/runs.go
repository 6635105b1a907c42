package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, name string) (store.Tenant, error) {
	t := store.Tenant{Name: name, CreatedAt: s.now()}
	err := s.d.Writer().QueryRow(ctx, `INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id`, name, t.CreatedAt).Scan(&t.ID)
	if v, _ := s.d.Violated(err); v == Unique {
		return store.Tenant{}, fmt.Errorf("%w: a tenant named %q already exists", store.ErrConflict, name)
	}
	if err != nil {
		return store.Tenant{}, s.errorf(err, "creating tenant %q", name)
	}
	return t, nil
}

// CreateRun implements store.Store.
func (s *Store) CreateRun(ctx context.Context, nr store.NewRun) (store.Run, error) {
	now := s.now()
	p, vars, err := s.prepare(nr, now)
	if err != nil {
		return store.Run{}, err
	}
	var id int64
	err = s.d.Write(ctx, func(tx Tx) (err error) {
		id, _, err = s.d.InsertRun(ctx, tx, p, vars, now, quota.Admitted)
		return err
	})
	if err != nil {
		return store.Run{}, s.createErr(err, nr)
	}
	s.cache.Put(id, 0, p.Workflow, p.State, p.StateJSON)
	return s.GetRun(ctx, p.TenantID, id)
}

// prepare is store.Prepare with the run's vars encoded.
func (s *Store) prepare(nr store.NewRun, now time.Time) (store.PreparedRun, string, error) {
	p, err := store.Prepare(nr, now)
	if err != nil {
		return p, "", err
	}
	vars, err := json.Marshal(p.Vars)
	if err != nil {
		return p, "", s.errorf(err, "encoding run vars")
	}
	return p, string(vars), nil
}

func (s *Store) createErr(err error, nr store.NewRun) error {
	if v, _ := s.d.Violated(err); v == ForeignKey {
		return fmt.Errorf("%w: tenant %d does not exist", store.ErrNotFound, nr.TenantID)
	}
	if errors.Is(err, store.ErrRejected) || errors.Is(err, store.ErrNotFound) {
		return err
	}
	return s.errorf(err, "creating a run of %s", nr.File)
}

const runCols = `id, tenant_id, project_id, file, vars, trigger, status, reason,
	requested_at, created_at, started_at, finished_at, last_seq, admission`

// scanRun reads runCols, then extra.
func scanRun(row Row, extra ...any) (store.Run, error) {
	var (
		r       store.Run
		project sql.NullInt64
		vars    []byte
	)
	err := row.Scan(append([]any{&r.ID, &r.TenantID, &project, &r.File, &vars, &r.Trigger, &r.Status, &r.Reason,
		Time(&r.RequestedAt), Time(&r.CreatedAt), Time(&r.StartedAt), Time(&r.FinishedAt), &r.LastSeq, &r.Admission}, extra...)...)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(vars, &r.Vars); err != nil {
		return r, fmt.Errorf("decoding the vars of run %d: %w", r.ID, err)
	}
	r.ProjectID = project.Int64
	return r, nil
}

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, tenantID, runID int64) (store.Run, error) {
	return s.getRun(ctx, tenantID, runID, s.position)
}

// getRun is GetRun with pos computing the run's place in the queue.
func (s *Store) getRun(ctx context.Context, tenantID, runID int64, pos func(context.Context, Tx, store.Run) (int, error)) (store.Run, error) {
	var r store.Run
	err := s.d.Read(ctx, func(tx Tx) error {
		var src []byte
		row := tx.QueryRow(ctx, `SELECT `+runCols+`, source FROM runs WHERE id = $1 AND tenant_id = $2`, runID, tenantID)
		var err error
		if r, err = scanRun(row, &src); err != nil {
			return err
		}
		r.Source = src
		steps, err := s.loadSteps(ctx, tx, `run_id = $1`, runID)
		if err != nil {
			return err
		}
		r.Steps = steps[runID]
		r.Position, err = pos(ctx, tx, r)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Run{}, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return store.Run{}, s.errorf(err, "reading run %d", runID)
	}
	if r.Source == nil {
		r.Source = []byte{}
	}
	return r, nil
}

// loadSteps returns the steps of the runs matching where (a condition on
// steps' run_id), in file order, by run.
func (s *Store) loadSteps(ctx context.Context, tx Tx, where string, args ...any) (map[int64][]store.Step, error) {
	rows, err := tx.Query(ctx, `SELECT run_id, name, depends_on, status, attempt, exit_code, reason,
		queued_at, started_at, finished_at, waiting_reason FROM steps WHERE `+where+` ORDER BY run_id, idx`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	steps := map[int64][]store.Step{}
	for rows.Next() {
		var (
			runID int64
			st    store.Step
			exit  sql.NullInt64
		)
		if err := rows.Scan(&runID, &st.Name, s.d.Strings(&st.DependsOn), &st.Status, &st.Attempt, &exit, &st.Reason,
			Time(&st.QueuedAt), Time(&st.StartedAt), Time(&st.FinishedAt), &st.WaitingReason); err != nil {
			return nil, err
		}
		if len(st.DependsOn) == 0 {
			st.DependsOn = nil // as the workflow has it
		}
		if exit.Valid {
			st.ExitCode = new(int(exit.Int64))
		}
		steps[runID] = append(steps[runID], st)
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
	q, args := `SELECT `+runCols+` FROM runs WHERE tenant_id = $1`, []any{tenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(" AND "+cond, len(args))
	}
	if f.Status != "" {
		add("status = $%d", f.Status)
	}
	if f.ProjectID != 0 {
		add("project_id = $%d", f.ProjectID)
	}
	if f.Branch != "" {
		add("branch = $%d", f.Branch)
	}
	if after > 0 {
		add("id < $%d", after)
	}
	args = append(args, size+1)
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.d.Reader().Query(ctx, q, args...)
	runs, err := collect(rows, err, func(r Row) (store.Run, error) { return scanRun(r) })
	if err != nil {
		return store.RunPage{}, s.errorf(err, "listing runs")
	}
	page := store.RunPage{Runs: runs}
	if len(page.Runs) > size {
		page.Runs = page.Runs[:size]
		page.Next = store.EncodeCursor(page.Runs[size-1].ID)
	}
	return page, nil
}

// Events implements store.Store.
func (s *Store) Events(ctx context.Context, tenantID, runID, afterSeq int64) ([]store.Event, error) {
	var evs []store.Event
	err := s.d.Read(ctx, func(tx Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM runs WHERE id = $1 AND tenant_id = $2`, runID, tenantID).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT seq, body FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq`, runID, afterSeq)
		evs, err = collect(rows, err, func(r Row) (store.Event, error) {
			ev := store.Event{RunID: runID}
			var body []byte
			if err := r.Scan(&ev.Seq, &body); err != nil {
				return ev, err
			}
			if err := json.Unmarshal(body, &ev.Event); err != nil {
				return ev, fmt.Errorf("decoding event %d: %w", ev.Seq, err)
			}
			return ev, nil
		})
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return nil, s.errorf(err, "reading the events of run %d", runID)
	}
	return evs, nil
}

// RunsInProgress implements store.Store.
func (s *Store) RunsInProgress(ctx context.Context) ([]store.Run, error) {
	var runs []store.Run
	err := s.d.Read(ctx, func(tx Tx) error {
		const inProgress = `status IN ('queued', 'running')`
		rows, err := tx.Query(ctx, `SELECT `+runCols+` FROM runs WHERE `+inProgress+` ORDER BY id`)
		if runs, err = collect(rows, err, func(r Row) (store.Run, error) { return scanRun(r) }); err != nil {
			return err
		}
		steps, err := s.loadSteps(ctx, tx, `run_id IN (SELECT id FROM runs WHERE `+inProgress+`)`)
		for i := range runs {
			runs[i].Steps = steps[runs[i].ID]
		}
		return err
	})
	if err != nil {
		return nil, s.errorf(err, "listing runs in progress")
	}
	return runs, nil
}

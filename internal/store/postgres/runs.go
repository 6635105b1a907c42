package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, name string) (store.Tenant, error) {
	t := store.Tenant{Name: name, CreatedAt: s.now()}
	err := s.pool.QueryRow(ctx, `INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id`, name, t.CreatedAt).Scan(&t.ID)
	if isCode(err, uniqueViolation) {
		return store.Tenant{}, fmt.Errorf("%w: a tenant named %q already exists", store.ErrConflict, name)
	}
	if err != nil {
		return store.Tenant{}, fmt.Errorf("postgres: creating tenant %q: %w", name, err)
	}
	return t, nil
}

// CreateRun implements store.Store.
func (s *Store) CreateRun(ctx context.Context, nr store.NewRun) (store.Run, error) {
	now := s.now()
	p, err := store.Prepare(nr, now)
	if err != nil {
		return store.Run{}, err
	}
	vars, err := json.Marshal(p.Vars)
	if err != nil {
		return store.Run{}, fmt.Errorf("postgres: encoding run vars: %w", err)
	}
	var id int64
	err = s.tx(ctx, func(tx pgx.Tx) (err error) {
		id, err = insertRun(ctx, tx, p, vars, now, quota.Admitted)
		return err
	})
	if err != nil {
		return store.Run{}, createErr(err, nr)
	}
	s.cache.Put(id, 0, p.Workflow, p.State, p.StateJSON)
	return s.GetRun(ctx, p.TenantID, id)
}

// insertRun writes a new run and its steps.
func insertRun(ctx context.Context, tx pgx.Tx, p store.PreparedRun, vars []byte, now time.Time, ad quota.Admission) (id int64, err error) {
	b := &pgx.Batch{}
	queueInsertRun(b, p, vars, now, ad, &id)
	return id, tx.SendBatch(ctx, b).Close()
}

// queueInsertRun inserts the run and all its steps with one statement, and
// sets *id. The same statement points the run's forge link, if any, at it.
func queueInsertRun(b *pgx.Batch, p store.PreparedRun, vars []byte, now time.Time, ad quota.Admission, id *int64) {
	names := make([]string, len(p.Steps))
	deps := make([][]byte, len(p.Steps))
	status := make([]string, len(p.Steps))
	for i, st := range p.Steps {
		names[i], status[i] = st.Name, string(st.Status)
		deps[i] = []byte("[]")
		if len(st.DependsOn) > 0 {
			deps[i], _ = json.Marshal(st.DependsOn) // []string cannot fail to encode
		}
	}
	// A two-dimensional array cannot hold lists of different lengths, so
	// each step's depends_on travels as JSON and is unpacked in SQL.
	b.Queue(`WITH r AS (
			INSERT INTO runs (tenant_id, project_id, file, source, vars, branch, trigger,
				status, reason, requested_at, created_at, state, last_seq, admission)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', $9, $10, $11, 0, $12) RETURNING id),
		s AS (
			INSERT INTO steps (run_id, idx, name, depends_on, status, attempt, reason)
			SELECT r.id, t.ord - 1, t.name,
				ARRAY(SELECT jsonb_array_elements_text(t.deps)), t.status, 0, ''
			FROM r, unnest($13::text[], $14::jsonb[], $15::text[]) WITH ORDINALITY AS t(name, deps, status, ord)),
		l AS (UPDATE github_runs SET run_id = r.id FROM r WHERE key = $16 RETURNING 1)
		SELECT id, (SELECT count(*) FROM l) FROM r`,
		p.TenantID, nullID(p.ProjectID), p.File, p.Source, vars, p.Vars.Branch, p.Trigger,
		engine.RunQueued, p.RequestedAt.UTC().Truncate(time.Microsecond), now, p.StateJSON, ad,
		names, deps, status, p.LinkKey).
		QueryRow(func(row pgx.Row) error {
			var linked int
			if err := row.Scan(id, &linked); err != nil {
				return err
			}
			if p.LinkKey != "" && linked == 0 {
				return fmt.Errorf("%w: forge link %q of the new run", store.ErrNotFound, p.LinkKey)
			}
			return nil
		})
}

func createErr(err error, nr store.NewRun) error {
	if isCode(err, foreignKeyViolation) {
		return fmt.Errorf("%w: tenant %d does not exist", store.ErrNotFound, nr.TenantID)
	}
	if errors.Is(err, store.ErrRejected) || errors.Is(err, store.ErrNotFound) {
		return err
	}
	return fmt.Errorf("postgres: creating a run of %s: %w", nr.File, err)
}

const runCols = `id, tenant_id, project_id, file, vars, trigger, status, reason,
	requested_at, created_at, started_at, finished_at, last_seq, admission`

// scanRun reads runCols, then extra.
func scanRun(row pgx.Row, extra ...any) (store.Run, error) {
	var (
		r                 store.Run
		project           *int64
		vars              []byte
		requested         time.Time
		created           time.Time
		started, finished *time.Time
	)
	err := row.Scan(append([]any{&r.ID, &r.TenantID, &project, &r.File, &vars, &r.Trigger, &r.Status, &r.Reason,
		&requested, &created, &started, &finished, &r.LastSeq, &r.Admission}, extra...)...)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(vars, &r.Vars); err != nil {
		return r, fmt.Errorf("decoding the vars of run %d: %w", r.ID, err)
	}
	if project != nil {
		r.ProjectID = *project
	}
	r.RequestedAt, r.CreatedAt = requested.UTC(), created.UTC()
	r.StartedAt, r.FinishedAt = fromNull(started), fromNull(finished)
	return r, nil
}

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, tenantID, runID int64) (store.Run, error) {
	return s.getRun(ctx, tenantID, runID, position)
}

// getRun is GetRun with pos computing the run's place in the line.
func (s *Store) getRun(ctx context.Context, tenantID, runID int64, pos func(context.Context, pgx.Tx, store.Run) (int, error)) (store.Run, error) {
	var r store.Run
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var src []byte
		row := tx.QueryRow(ctx, `SELECT `+runCols+`, source FROM runs WHERE id = $1 AND tenant_id = $2`, runID, tenantID)
		var err error
		if r, err = scanRun(row, &src); err != nil {
			return err
		}
		r.Source = src
		steps, err := loadSteps(ctx, tx, []int64{runID})
		if err != nil {
			return err
		}
		r.Steps = steps[runID]
		r.Position, err = pos(ctx, tx, r)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Run{}, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return store.Run{}, fmt.Errorf("postgres: reading run %d: %w", runID, err)
	}
	if r.Source == nil {
		r.Source = []byte{}
	}
	return r, nil
}

// loadSteps returns the steps of the given runs, in file order.
func loadSteps(ctx context.Context, tx pgx.Tx, runIDs []int64) (map[int64][]store.Step, error) {
	rows, err := tx.Query(ctx, `SELECT run_id, name, depends_on, status, attempt, exit_code, reason,
		queued_at, started_at, finished_at, waiting_reason FROM steps WHERE run_id = ANY($1) ORDER BY run_id, idx`, runIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	steps := map[int64][]store.Step{}
	for rows.Next() {
		var (
			runID                int64
			st                   store.Step
			queued, started, fin *time.Time
		)
		if err := rows.Scan(&runID, &st.Name, &st.DependsOn, &st.Status, &st.Attempt, &st.ExitCode, &st.Reason,
			&queued, &started, &fin, &st.WaitingReason); err != nil {
			return nil, err
		}
		if len(st.DependsOn) == 0 {
			st.DependsOn = nil // as the workflow has it
		}
		st.QueuedAt, st.StartedAt, st.FinishedAt = fromNull(queued), fromNull(started), fromNull(fin)
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
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return store.RunPage{}, fmt.Errorf("postgres: listing runs: %w", err)
	}
	defer rows.Close()
	var page store.RunPage
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return store.RunPage{}, fmt.Errorf("postgres: listing runs: %w", err)
		}
		page.Runs = append(page.Runs, r)
	}
	if err := rows.Err(); err != nil {
		return store.RunPage{}, fmt.Errorf("postgres: listing runs: %w", err)
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
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM runs WHERE id = $1 AND tenant_id = $2`, runID, tenantID).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT seq, body FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq`, runID, afterSeq)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ev := store.Event{RunID: runID}
			var body []byte
			if err := rows.Scan(&ev.Seq, &body); err != nil {
				return err
			}
			if err := json.Unmarshal(body, &ev.Event); err != nil {
				return fmt.Errorf("decoding event %d: %w", ev.Seq, err)
			}
			evs = append(evs, ev)
		}
		return rows.Err()
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: run %d", store.ErrNotFound, runID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: reading the events of run %d: %w", runID, err)
	}
	return evs, nil
}

// RunsInProgress implements store.Store.
func (s *Store) RunsInProgress(ctx context.Context) ([]store.Run, error) {
	var runs []store.Run
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+runCols+` FROM runs WHERE status IN ('queued', 'running') ORDER BY id`)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				rows.Close()
				return err
			}
			runs = append(runs, r)
			ids = append(ids, r.ID)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		steps, err := loadSteps(ctx, tx, ids)
		for i := range runs {
			runs[i].Steps = steps[runs[i].ID]
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: listing runs in progress: %w", err)
	}
	return runs, nil
}

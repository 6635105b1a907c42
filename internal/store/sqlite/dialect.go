package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlstore"
)

// dialect is sqlstore.Dialect on SQLite. Every write goes through the one
// writer connection, so a write transaction holds every lock there is.
type dialect struct{ s *Store }

func (dialect) Name() string { return "sqlite" }

func (d dialect) Write(ctx context.Context, fn func(sqlstore.Tx) error) error {
	tx, err := d.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: starting a write: %w", err)
	}
	defer d.s.ws.prepareSeen(ctx)
	if err := fn(conn{tx, tx, d.s.ws}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: committing: %w", err)
	}
	return nil
}

// Read runs fn in a read transaction: one consistent snapshot under WAL.
func (d dialect) Read(ctx context.Context, fn func(sqlstore.Tx) error) error {
	tx, err := d.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: starting a read: %w", err)
	}
	defer d.s.rs.prepareSeen(ctx)
	defer tx.Rollback()
	return fn(conn{tx, tx, d.s.rs})
}

func (d dialect) Reader() sqlstore.Tx { return conn{d.s.r, nil, d.s.rs} }
func (d dialect) Writer() sqlstore.Tx { return conn{d.s.w, nil, d.s.ws} }

// Violated reads SQLite's extended code; the message names the columns
// ("UNIQUE constraint failed: users.email").
func (dialect) Violated(err error) (sqlstore.Violation, string) {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return sqlstore.NoViolation, ""
	}
	where := strings.ReplaceAll(e.Error(), ".", "_")
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.Unique, where
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ForeignKey, where
	}
	return sqlstore.NoViolation, ""
}

// Hint names the index: SQLite's planner picks a worse one for the
// queue's queries on long queues.
func (dialect) Hint(index string) string { return " INDEXED BY " + index }

func (dialect) IDs(p string) string { return "(SELECT value FROM json_each(" + p + "))" }

func (dialect) Strings(dst *[]string) any { return jsonDest{dst} }

// jsonDest reads a JSON column into its value.
type jsonDest struct{ v any }

func (d jsonDest) Scan(src any) error {
	switch b := src.(type) {
	case string:
		return json.Unmarshal([]byte(b), d.v)
	case []byte:
		return json.Unmarshal(b, d.v)
	}
	return fmt.Errorf("sqlite: cannot read %T as JSON", src)
}

// Notify: claimers share the process and are woken by the scheduler.
func (dialect) Notify() string           { return "" }
func (dialect) NotifyIf(u string) string { return u }

func (dialect) LockRun(ctx context.Context, tx sqlstore.Tx, runID int64, _ time.Time) (l sqlstore.RunLock, err error) {
	err = tx.QueryRow(ctx, `SELECT tenant_id, last_seq, admission FROM runs WHERE id = $1`, runID).Scan(&l.TenantID, &l.LastSeq, &l.Admission)
	return l, err
}

func (d dialect) InsertRun(ctx context.Context, tx sqlstore.Tx, p store.PreparedRun, vars string, now time.Time, ad quota.Admission) (int64, store.Queue, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO runs (tenant_id, project_id, file, source, vars, branch, trigger,
		status, reason, requested_at, created_at, state, last_seq, admission)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', $9, $10, $11, 0, $12) RETURNING id`,
		p.TenantID, nullID(p.ProjectID), p.File, p.Source, vars, p.Vars.Branch, p.Trigger,
		engine.RunQueued, p.RequestedAt, now, string(p.StateJSON), ad).Scan(&id)
	if err != nil {
		return 0, store.Queue{}, err
	}
	for i, st := range p.Steps {
		deps, err := json.Marshal(st.DependsOn)
		if err != nil {
			return 0, store.Queue{}, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO steps (run_id, idx, name, depends_on, status, attempt, reason)
			VALUES ($1, $2, $3, $4, $5, 0, '')`, id, i, st.Name, string(deps), st.Status); err != nil {
			return 0, store.Queue{}, err
		}
	}
	if p.LinkKey != "" {
		n, err := tx.Exec(ctx, `UPDATE github_runs SET run_id = $1 WHERE key = $2`, id, p.LinkKey)
		if err != nil || n == 0 {
			return 0, store.Queue{}, fmt.Errorf("%w: forge link %q of the new run (%v)", store.ErrNotFound, p.LinkKey, err)
		}
	}
	if ad != quota.Pending {
		return id, store.Queue{}, nil
	}
	// The run joins its tenant's queue length, creating the account.
	if _, err := tx.Exec(ctx, `INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt, pending)
		VALUES ($1, $2, $3, 0, 0, 0, 1) ON CONFLICT (tenant_id) DO UPDATE SET pending = pending + 1`, p.TenantID, quota.DefaultPlan, now); err != nil {
		return 0, store.Queue{}, err
	}
	q, err := readQueue(ctx, tx, p.TenantID)
	return id, q, err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func (dialect) Account(ctx context.Context, tx sqlstore.Tx, tenantID int64, now time.Time) (quota.Account, error) {
	if err := createAccount(ctx, tx, tenantID, now); err != nil {
		return quota.Account{}, err
	}
	return sqlstore.ReadAccount(ctx, tx, tenantID)
}

// createAccount creates the tenant's account on the default plan on first use.
func createAccount(ctx context.Context, tx sqlstore.Tx, tenantID int64, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO quota_accounts (tenant_id, plan, cycle_start, used, granted, debt)
		VALUES ($1, $2, $3, 0, 0, 0) ON CONFLICT (tenant_id) DO NOTHING`, tenantID, quota.DefaultPlan, now)
	return err
}

func (dialect) Queue(ctx context.Context, tx sqlstore.Tx, tenantID int64, now time.Time) (store.Queue, error) {
	if err := createAccount(ctx, tx, tenantID, now); err != nil {
		return store.Queue{}, err
	}
	return readQueue(ctx, tx, tenantID)
}

// readQueue reads the account with its counts, then the heads: two
// statements, in-process.
func readQueue(ctx context.Context, tx sqlstore.Tx, tenantID int64) (q store.Queue, err error) {
	err = sqlstore.ScanAccount(tx.QueryRow(ctx, `SELECT `+sqlstore.AccountCols+`,
			(SELECT count(*) FROM runs INDEXED BY runs_active
				WHERE tenant_id = $1 AND admission = 'admitted' AND status IN ('queued', 'running')),
			EXISTS (SELECT 1 FROM runs INDEXED BY runs_waiting WHERE tenant_id = $1 AND admission = 'blocked' AND status = 'queued')
		FROM quota_accounts a JOIN plans p ON p.name = a.plan WHERE a.tenant_id = $1`, tenantID), &q.Account, &q.Active, &q.Blocked)
	if err != nil {
		return q, err
	}
	rows, err := tx.Query(ctx, `SELECT id FROM runs INDEXED BY runs_waiting WHERE tenant_id = $1 AND admission = 'pending'
		AND status = 'queued' ORDER BY requested_at, id LIMIT 2`, tenantID)
	if err != nil {
		return q, err
	}
	defer rows.Close()
	for i := 0; rows.Next(); i++ {
		if err := rows.Scan(&q.Heads[i]); err != nil {
			return q, err
		}
	}
	return q, rows.Err()
}

// ClaimFor: with a single writer, claims are serialized, so two claimers
// can never pick the same row. A step's labels must all be among the
// claimer's: no label of the command lacks a match.
func (d dialect) ClaimFor(ctx context.Context, cl store.Claim, now time.Time) ([]store.Command, time.Time, error) {
	labels, err := sqlstore.JSONLabels(cl.Labels)
	if err != nil {
		return nil, time.Time{}, err
	}
	var (
		cmds []store.Command
		next time.Time
	)
	err = d.Write(ctx, func(tx sqlstore.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE outbox SET prev_owner = COALESCE(claimed_by, prev_owner), claimed_by = $1, lease_until = $2, claims = claims + 1
			WHERE id IN (SELECT id FROM (SELECT o.id, o.kind,
					row_number() OVER (PARTITION BY o.kind = 'start_step' ORDER BY o.available_at, o.id) AS n
				FROM outbox o
				WHERE o.done_at IS NULL AND o.available_at <= $3 AND (o.lease_until IS NULL OR o.lease_until <= $3)
					AND `+labelsFit+`
					AND NOT ($6 AND o.kind IN ('start_step', 'cancel_step'))
					AND NOT ($7 < 0 AND o.kind = 'start_step')
					AND (o.kind <> 'cancel_step' OR NOT EXISTS (
						SELECT 1 FROM outbox h WHERE h.run_id = o.run_id AND h.step = o.step AND h.attempt = o.attempt
							AND h.kind = 'start_step' AND h.done_at IS NULL
							AND h.claimed_by <> $1 AND h.lease_until > $3))
				ORDER BY o.available_at, o.id LIMIT $4)
				WHERE $7 <= 0 OR kind <> 'start_step' OR n <= $7)
			RETURNING `+sqlstore.CommandCols,
			cl.Owner, now.Add(cl.Lease), now, cl.Limit, labels, cl.NoSteps, cl.MaxStarts)
		if cmds, err = collect(rows, err); err != nil || len(cmds) == cl.Limit {
			next = time.Time{}
			return err
		}
		// When the claim was not full: the earliest time after now at which
		// a command cl could take becomes claimable (see store.Workers). max()
		// of a NULL is NULL here, so a missing lease counts as available_at.
		var t sql.NullInt64
		err = tx.QueryRow(ctx, `SELECT min(max(o.available_at, COALESCE(o.lease_until, o.available_at))) FROM outbox o
			WHERE o.done_at IS NULL AND o.claimed_by IS NOT $1
				AND max(o.available_at, COALESCE(o.lease_until, o.available_at)) > $2
				AND `+strings.ReplaceAll(labelsFit, "$5", "$3")+`
				AND NOT ($4 AND o.kind IN ('start_step', 'cancel_step'))`,
			cl.Owner, now, labels, cl.NoSteps).Scan(&t)
		if t.Valid {
			next = time.UnixMicro(t.Int64).UTC()
		}
		return err
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	slices.SortFunc(cmds, store.CompareCommands) // RETURNING has no defined order
	return cmds, next, nil
}

// labelsFit: the command's labels (NULL: none) are all among the claimer's ($5).
const labelsFit = `(o.labels IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(o.labels) r
	WHERE NOT EXISTS (SELECT 1 FROM json_each($5) w WHERE w.key = r.key AND w.value = r.value)))`

func collect(rows sqlstore.Rows, err error) ([]store.Command, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cmds []store.Command
	for rows.Next() {
		c, err := sqlstore.ScanCommand(rows)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, rows.Err()
}

// conn is sqlstore.Tx over database/sql: a pool, or tx on one.
type conn struct {
	q interface {
		ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	}
	tx    *sql.Tx
	stmts *stmts
}

// on returns what runs q: its prepared statement when there is one.
func (c conn) on(ctx context.Context, q string) interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
} {
	st := c.stmts.get(ctx, q, c.tx == nil)
	switch {
	case st == nil:
		return unprepared{c.q, q}
	case c.tx != nil:
		return c.tx.StmtContext(ctx, st) // the statement as prepared on the tx's connection
	}
	return st
}

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := c.on(ctx, q).ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	rows, err := c.on(ctx, q).QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return c.on(ctx, q).QueryRowContext(ctx, args...)
}

// Send runs the statements one by one: in-process, a batch saves nothing.
func (c conn) Send(ctx context.Context, b *sqlstore.Batch) error {
	for _, it := range b.Items {
		var err error
		if it.Scan != nil {
			err = it.Scan(c.QueryRow(ctx, it.SQL, it.Args...))
		} else {
			_, err = c.Exec(ctx, it.SQL, it.Args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// unprepared runs a statement that has no prepared statement (yet).
type unprepared struct {
	q interface {
		ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	}
	sql string
}

func (u unprepared) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return u.q.ExecContext(ctx, u.sql, args...)
}

func (u unprepared) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	return u.q.QueryContext(ctx, u.sql, args...)
}

func (u unprepared) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return u.q.QueryRowContext(ctx, u.sql, args...)
}

// stmts keeps a pool's prepared statements by SQL text. SQLite parses a
// statement anew at each call otherwise: 40% of a trigger's CPU. The
// statements are a fixed set (ListRuns' filters make 16), bounded anyway.
// A statement first seen in a transaction is prepared after it: the
// writer's one connection is busy until then.
type stmts struct {
	db   *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	seen map[string]bool
}

const maxStmts = 512

func newStmts(db *sql.DB) *stmts {
	return &stmts{db: db, m: map[string]*sql.Stmt{}, seen: map[string]bool{}}
}

// get returns q's statement, preparing it now if free (no transaction
// holds the connection it would take), else noting it for later.
func (c *stmts) get(ctx context.Context, q string, free bool) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[q]
	if !ok && !free && len(c.m) < maxStmts {
		c.seen[q] = true
	}
	c.mu.Unlock()
	if ok || !free {
		return st
	}
	return c.prepare(ctx, q)
}

func (c *stmts) prepare(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[q]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	// Not under mu: preparing waits for a connection, which a transaction
	// may hold while it looks up its own statements.
	st, err := c.db.PrepareContext(context.WithoutCancel(ctx), q)
	if err != nil {
		return nil // it runs unprepared, and fails there if it must
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[q]; ok {
		st.Close()
		return old
	}
	c.m[q] = st
	return st
}

// prepareSeen prepares what transactions used that has no statement yet.
func (c *stmts) prepareSeen(ctx context.Context) {
	c.mu.Lock()
	var qs []string
	for q := range c.seen {
		qs = append(qs, q)
	}
	clear(c.seen)
	c.mu.Unlock()
	for _, q := range qs {
		c.prepare(ctx, q)
	}
}

func (c *stmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	clear(c.m)
	return errors.Join(errs...)
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// PutPlan implements store.Store.
func (s *Store) PutPlan(ctx context.Context, p quota.Plan) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO plans (name, minutes, max_concurrent) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET minutes = excluded.minutes, max_concurrent = excluded.max_concurrent`,
			p.Name, p.Minutes, p.MaxConcurrent)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: saving plan %q: %w", p.Name, err)
	}
	return nil
}

// Plans implements store.Store.
func (s *Store) Plans(ctx context.Context) ([]quota.Plan, error) {
	var ps []quota.Plan
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name, minutes, max_concurrent FROM plans ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p quota.Plan
			if err := rows.Scan(&p.Name, &p.Minutes, &p.MaxConcurrent); err != nil {
				return err
			}
			ps = append(ps, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing plans: %w", err)
	}
	return ps, nil
}

// SetPlan implements store.Store.
func (s *Store) SetPlan(ctx context.Context, tenantID int64, plan string) error {
	return s.adjust(ctx, tenantID, "changing the plan", func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM plans WHERE name = ?`, plan).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: plan %q (see the plans list)", store.ErrNotFound, plan)
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE quota_accounts SET plan = ? WHERE tenant_id = ?`, plan, tenantID)
		return err
	})
}

// GrantMinutes implements store.Store.
func (s *Store) GrantMinutes(ctx context.Context, tenantID, minutes int64) error {
	if minutes <= 0 {
		return fmt.Errorf("%w: grant a positive number of minutes, not %d", store.ErrInvalid, minutes)
	}
	return s.adjust(ctx, tenantID, "granting minutes", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE quota_accounts SET granted = granted + ? WHERE tenant_id = ?`, minutes, tenantID)
		return err
	})
}

// adjust rolls the tenant's account over, changes it with fn, and admits
// its line, in one transaction.
func (s *Store) adjust(ctx context.Context, tenantID int64, what string, fn func(tx *sql.Tx) error) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM tenants WHERE id = ?`, tenantID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: tenant %d", store.ErrNotFound, tenantID)
		} else if err != nil {
			return err
		}
		q, now := admitTx{s, tx}, s.now()
		if _, err := store.LoadAccount(ctx, q, tenantID, now); err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		_, _, err := store.Fill(ctx, q, tenantID, now)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sqlite: %s for tenant %d: %w", what, tenantID, err)
	}
	return err
}

// AdmitWaiting implements store.Store.
func (s *Store) AdmitWaiting(ctx context.Context) (int, error) {
	var tenants []int64
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT tenant_id FROM runs
			WHERE status = 'queued' AND admission IN ('pending', 'blocked')`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			tenants = append(tenants, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: finding waiting runs: %w", err)
	}
	total := 0
	for _, t := range tenants {
		err := s.write(ctx, func(tx *sql.Tx) error {
			n, _, err := store.Fill(ctx, admitTx{s, tx}, t, s.now())
			total += n
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: admitting the waiting runs of tenant %d: %w", t, err)
		}
	}
	return total, nil
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, tenantID int64) (store.Usage, error) {
	u := store.Usage{TenantID: tenantID}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM tenants WHERE id = ?`, tenantID).Scan(&one); err != nil {
			return err
		}
		var err error
		if u, err = usage(ctx, tx, tenantID, s.now()); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE tenant_id = ? AND admission = 'pending' AND status = 'queued'
			ORDER BY requested_at, id LIMIT ?`, tenantID, store.QueueLimit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			u.Queue = append(u.Queue, id)
		}
		return rows.Err()
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Usage{}, fmt.Errorf("%w: tenant %d", store.ErrNotFound, tenantID)
	}
	if err != nil {
		return store.Usage{}, fmt.Errorf("sqlite: reading the usage of tenant %d: %w", tenantID, err)
	}
	return u, nil
}

// usage reads a tenant's account (the default one if it has none yet),
// rolled over to now without saving, and its run counts.
func usage(ctx context.Context, tx *sql.Tx, tenantID int64, now time.Time) (store.Usage, error) {
	u := store.Usage{TenantID: tenantID}
	a, err := readAccount(ctx, tx, tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		a = quota.Account{CycleStart: now}
		err = tx.QueryRowContext(ctx, `SELECT name, minutes, max_concurrent FROM plans WHERE name = ?`, quota.DefaultPlan).
			Scan(&a.Plan.Name, &a.Plan.Minutes, &a.Plan.MaxConcurrent)
	}
	if err != nil {
		return u, err
	}
	u.Account, _ = quota.Rollover(a, now)
	u.CycleEnd = quota.CycleEnd(u.Account.CycleStart)
	err = tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM runs WHERE tenant_id = ?1 AND admission = 'admitted' AND status IN ('queued', 'running')),
		(SELECT count(*) FROM runs WHERE tenant_id = ?1 AND admission = 'pending' AND status = 'queued'),
		(SELECT count(*) FROM runs WHERE tenant_id = ?1 AND admission = 'blocked' AND status = 'queued')`, tenantID).
		Scan(&u.Running, &u.Pending, &u.Blocked)
	return u, err
}

// Usages implements store.Store. It is one query whatever the number of
// tenants (Prometheus calls it at every scrape): the counts come from one
// grouped pass over the runs in progress (the runs_in_progress index).
func (s *Store) Usages(ctx context.Context) ([]store.Usage, error) {
	var us []store.Usage
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, usagesSQL)
		if err != nil {
			return err
		}
		defer rows.Close()
		now := s.now()
		for rows.Next() {
			var u store.Usage
			var a quota.Account
			var start int64
			if err := rows.Scan(&u.TenantID, &a.Plan.Name, &a.Plan.Minutes, &a.Plan.MaxConcurrent, &start, &a.Used, &a.Granted, &a.Debt,
				&u.Running, &u.Pending, &u.Blocked); err != nil {
				return err
			}
			a.CycleStart = time.UnixMicro(start).UTC()
			u.Account, _ = quota.Rollover(a, now)
			u.CycleEnd = quota.CycleEnd(u.Account.CycleStart)
			us = append(us, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading usage: %w", err)
	}
	return us, nil
}

// usagesSQL counts as usage() does: running is admitted and not ended,
// pending and blocked are still queued.
const usagesSQL = `SELECT a.tenant_id, p.name, p.minutes, p.max_concurrent, a.cycle_start, a.used, a.granted, a.debt,
		coalesce(c.running, 0), coalesce(c.pending, 0), coalesce(c.blocked, 0)
	FROM quota_accounts a JOIN plans p ON p.name = a.plan
	LEFT JOIN (SELECT tenant_id,
			count(*) FILTER (WHERE admission = 'admitted') AS running,
			count(*) FILTER (WHERE admission = 'pending' AND status = 'queued') AS pending,
			count(*) FILTER (WHERE admission = 'blocked' AND status = 'queued') AS blocked
		FROM runs INDEXED BY runs_in_progress WHERE status IN ('queued', 'running') GROUP BY tenant_id) c ON c.tenant_id = a.tenant_id
	ORDER BY a.tenant_id`

// Ledger implements store.Store.
func (s *Store) Ledger(ctx context.Context, tenantID int64) ([]store.Charge, error) {
	var cs []store.Charge
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT run_id, step, attempt, minutes, at FROM quota_ledger
			WHERE tenant_id = ? ORDER BY id`, tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := store.Charge{TenantID: tenantID}
			var at int64
			if err := rows.Scan(&c.RunID, &c.Step, &c.Attempt, &c.Minutes, &at); err != nil {
				return err
			}
			c.At = time.UnixMicro(at).UTC()
			cs = append(cs, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading the ledger of tenant %d: %w", tenantID, err)
	}
	return cs, nil
}

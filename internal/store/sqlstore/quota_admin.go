package sqlstore

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
	// The tenants on the plan admit what the new limits allow at once, as
	// after a grant or a plan move, not at the next AdmitWaiting.
	err := s.d.Write(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO plans (name, minutes, max_concurrent) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET minutes = excluded.minutes, max_concurrent = excluded.max_concurrent`,
			p.Name, p.Minutes, p.MaxConcurrent); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT r.tenant_id FROM runs r JOIN quota_accounts a ON a.tenant_id = r.tenant_id
			WHERE a.plan = $1 AND r.status = 'queued' AND r.admission IN ('pending', 'blocked') ORDER BY r.tenant_id`, p.Name)
		tenants, err := collect(rows, err, func(r Row) (id int64, err error) { return id, r.Scan(&id) })
		for _, t := range tenants {
			if err == nil {
				_, _, err = store.Refill(ctx, admitTx{s, tx}, t, s.now())
			}
		}
		return err
	})
	if err != nil {
		return s.errorf(err, "saving plan %q", p.Name)
	}
	return nil
}

// Plans implements store.Store.
func (s *Store) Plans(ctx context.Context) ([]quota.Plan, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT name, minutes, max_concurrent FROM plans ORDER BY name`)
	ps, err := collect(rows, err, func(r Row) (p quota.Plan, err error) {
		return p, r.Scan(&p.Name, &p.Minutes, &p.MaxConcurrent)
	})
	if err != nil {
		return nil, s.errorf(err, "listing plans")
	}
	return ps, nil
}

// SetPlan implements store.Store.
func (s *Store) SetPlan(ctx context.Context, tenantID int64, plan string) error {
	return s.adjust(ctx, tenantID, "changing the plan", func(tx Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM plans WHERE name = $1`, plan).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: plan %q (see the plans list)", store.ErrNotFound, plan)
		} else if err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE quota_accounts SET plan = $1 WHERE tenant_id = $2`, plan, tenantID)
		return err
	})
}

// GrantMinutes implements store.Store.
func (s *Store) GrantMinutes(ctx context.Context, tenantID, minutes int64) error {
	if minutes <= 0 {
		return fmt.Errorf("%w: grant a positive number of minutes, not %d", store.ErrInvalid, minutes)
	}
	return s.adjust(ctx, tenantID, "granting minutes", func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE quota_accounts SET granted = granted + $1 WHERE tenant_id = $2`, minutes, tenantID)
		return err
	})
}

// adjust rolls the tenant's account over, changes it with fn, and admits
// its queue, in one transaction.
func (s *Store) adjust(ctx context.Context, tenantID int64, what string, fn func(Tx) error) error {
	err := s.d.Write(ctx, func(tx Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1`, tenantID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
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
		_, _, err := store.Refill(ctx, q, tenantID, now)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.errorf(err, "%s for tenant %d", what, tenantID)
	}
	return err
}

// AdmitWaiting implements store.Store.
func (s *Store) AdmitWaiting(ctx context.Context) (int, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT DISTINCT tenant_id FROM runs
		WHERE status = 'queued' AND admission IN ('pending', 'blocked')`)
	tenants, err := collect(rows, err, func(r Row) (id int64, err error) { return id, r.Scan(&id) })
	if err != nil {
		return 0, s.errorf(err, "finding waiting runs")
	}
	total := 0
	for _, t := range tenants {
		err := s.d.Write(ctx, func(tx Tx) error {
			n, _, err := store.Fill(ctx, admitTx{s, tx}, t, s.now())
			total += n
			return err
		})
		if err != nil {
			return total, s.errorf(err, "admitting the waiting runs of tenant %d", t)
		}
	}
	return total, nil
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, tenantID int64) (store.Usage, error) {
	u := store.Usage{TenantID: tenantID}
	err := s.d.Read(ctx, func(tx Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1`, tenantID).Scan(&one); err != nil {
			return err
		}
		var err error
		if u, err = usage(ctx, tx, tenantID, s.now()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM runs WHERE tenant_id = $1 AND admission = 'pending' AND status = 'queued'
			ORDER BY requested_at, id LIMIT $2`, tenantID, store.QueueLimit)
		u.Queue, err = collect(rows, err, func(r Row) (id int64, err error) { return id, r.Scan(&id) })
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Usage{}, fmt.Errorf("%w: tenant %d", store.ErrNotFound, tenantID)
	}
	if err != nil {
		return store.Usage{}, s.errorf(err, "reading the usage of tenant %d", tenantID)
	}
	return u, nil
}

// usage reads a tenant's account (the default one if it has none yet),
// rolled over to now without saving, and its run counts.
func usage(ctx context.Context, tx Tx, tenantID int64, now time.Time) (store.Usage, error) {
	u := store.Usage{TenantID: tenantID}
	a, err := ReadAccount(ctx, tx, tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		a = quota.Account{CycleStart: now}
		err = tx.QueryRow(ctx, `SELECT name, minutes, max_concurrent FROM plans WHERE name = $1`, quota.DefaultPlan).
			Scan(&a.Plan.Name, &a.Plan.Minutes, &a.Plan.MaxConcurrent)
	}
	if err != nil {
		return u, err
	}
	u.Account, _ = quota.Rollover(a, now)
	u.CycleEnd = quota.CycleEnd(u.Account.CycleStart)
	err = tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM runs WHERE tenant_id = $1 AND admission = 'admitted' AND status IN ('queued', 'running')),
		(SELECT count(*) FROM runs WHERE tenant_id = $1 AND admission = 'pending' AND status = 'queued'),
		(SELECT count(*) FROM runs WHERE tenant_id = $1 AND admission = 'blocked' AND status = 'queued')`, tenantID).
		Scan(&u.Running, &u.Pending, &u.Blocked)
	return u, err
}

// Usages implements store.Store. It is one query whatever the number of
// tenants (Prometheus calls it at every scrape): the counts come from one
// grouped pass over the runs in progress (the runs_in_progress index).
// Running is admitted and not ended; pending and blocked are still queued,
// as usage() counts them.
func (s *Store) Usages(ctx context.Context) ([]store.Usage, error) {
	now := s.now()
	rows, err := s.d.Reader().Query(ctx, `SELECT `+AccountCols+`, a.tenant_id,
			coalesce(c.running, 0), coalesce(c.pending, 0), coalesce(c.blocked, 0)
		FROM quota_accounts a JOIN plans p ON p.name = a.plan
		LEFT JOIN (SELECT tenant_id,
				count(*) FILTER (WHERE admission = 'admitted') AS running,
				count(*) FILTER (WHERE admission = 'pending' AND status = 'queued') AS pending,
				count(*) FILTER (WHERE admission = 'blocked' AND status = 'queued') AS blocked
			FROM runs`+s.d.Hint("runs_in_progress")+` WHERE status IN ('queued', 'running') GROUP BY tenant_id) c ON c.tenant_id = a.tenant_id
		ORDER BY a.tenant_id`)
	us, err := collect(rows, err, func(r Row) (store.Usage, error) {
		var u store.Usage
		var a quota.Account
		if err := ScanAccount(r, &a, &u.TenantID, &u.Running, &u.Pending, &u.Blocked); err != nil {
			return u, err
		}
		u.Account, _ = quota.Rollover(a, now)
		u.CycleEnd = quota.CycleEnd(u.Account.CycleStart)
		return u, nil
	})
	if err != nil {
		return nil, s.errorf(err, "reading usage")
	}
	return us, nil
}

// Ledger implements store.Store.
func (s *Store) Ledger(ctx context.Context, tenantID int64) ([]store.Charge, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT run_id, step, attempt, minutes, at FROM quota_ledger
		WHERE tenant_id = $1 ORDER BY id`, tenantID)
	cs, err := collect(rows, err, func(r Row) (store.Charge, error) {
		c := store.Charge{TenantID: tenantID}
		return c, r.Scan(&c.RunID, &c.Step, &c.Attempt, &c.Minutes, Time(&c.At))
	})
	if err != nil {
		return nil, s.errorf(err, "reading the ledger of tenant %d", tenantID)
	}
	return cs, nil
}

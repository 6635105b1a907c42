package sqlite

import (
	"context"
	"database/sql"
	"errors"
)

// LineCounter reads the tenant's stored queue length (quota_accounts.pending)
// for storetest, which checks it against a real count.
func (s *Store) LineCounter(ctx context.Context, tenantID int64) (n int, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT pending FROM quota_accounts WHERE tenant_id = $1`, tenantID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	st := store.Stats{RunsByStatus: map[engine.RunStatus]int64{}}
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT status, count(*) FROM runs GROUP BY status`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var status string
			var n int64
			if err := rows.Scan(&status, &n); err != nil {
				return err
			}
			st.RunsByStatus[engine.RunStatus(status)] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE done_at IS NULL AND available_at <= ?`,
			s.now().UTC().UnixMicro()).Scan(&st.CommandsDue)
	})
	if err != nil {
		return store.Stats{}, fmt.Errorf("sqlite: reading stats: %w", err)
	}
	return st, nil
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	st := store.Stats{RunsByStatus: map[engine.RunStatus]int64{}}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT status, count(*) FROM runs GROUP BY status`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var status string
			var n int64
			if err := rows.Scan(&status, &n); err != nil {
				rows.Close()
				return err
			}
			st.RunsByStatus[engine.RunStatus(status)] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE done_at IS NULL AND available_at <= $1`,
			s.now().UTC()).Scan(&st.CommandsDue)
	})
	if err != nil {
		return store.Stats{}, fmt.Errorf("postgres: reading stats: %w", err)
	}
	return st, nil
}

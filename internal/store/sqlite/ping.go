package sqlite

import (
	"context"
	"fmt"
)

// Ping implements store.Store: one trivial query on each pool, since a
// broken writer leaves reads working.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: the database does not answer reads: %w", err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: the database does not answer writes: %w", err)
	}
	return nil
}

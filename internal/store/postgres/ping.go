package postgres

import (
	"context"
	"fmt"
)

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: the database does not answer: %w", err)
	}
	return nil
}

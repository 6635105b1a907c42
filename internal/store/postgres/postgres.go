// Package postgres is the production Store on PostgreSQL (pgx, pgxpool).
// A run's events are serialized by locking its row (SELECT ... FOR
// UPDATE); outbox claims use FOR UPDATE SKIP LOCKED so concurrent
// claimers never wait on, or take, each other's rows.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the Postgres implementation of store.Store: the shared logic of
// sqlstore over this package's dialect.
type Store struct {
	*sqlstore.Store
	pool  *pgxpool.Pool
	where string // host:port/db for messages; never the password
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user@host:port/db?...),
// checks that it answers, and migrates it.
func Open(ctx context.Context, url string, opts ...store.Option) (*Store, error) {
	o := store.ApplyOptions(opts...)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: the database URL does not parse (want postgres://user@host:5432/db): %w", err)
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connecting to %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach %s (is the server running, and the database created?): %w", where, err)
	}
	s := &Store{pool: pool, where: where}
	s.Store = sqlstore.New(dialect{pool}, o)
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies pending migrations under a Postgres advisory lock, so
// several servers starting at once migrate once.
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrating %s: %w", s.where, err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use. It is idempotent.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: the database does not answer: %w", err)
	}
	return nil
}

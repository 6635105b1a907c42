// Package sqlite is the embedded Store: one file, no server, pure Go
// (modernc.org/sqlite). It uses WAL, a busy timeout, foreign keys, and
// exactly one writer connection beside a pool of read-only connections, so
// writers queue in Go instead of failing with "database is locked".
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// FileName is the database's name inside the data directory.
const FileName = "runbook.db"

// readConns bounds the read pool: reads never block the writer under WAL,
// and more than a few buy nothing on small machines.
const readConns = 4

// Store is the SQLite implementation of store.Store: the shared logic of
// sqlstore over this package's dialect.
type Store struct {
	*sqlstore.Store
	path string
	w    *sql.DB // exactly one connection: the single writer
	r    *sql.DB // query_only connections
	ckpt *sql.DB // one connection that checkpoints the WAL in the background
	ws   *stmts  // the writer's prepared statements
	rs   *stmts  // the readers'

	stopCkpt chan struct{}
	ckptDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) dir/runbook.db and migrates it.
func Open(ctx context.Context, dir string, opts ...store.Option) (*Store, error) {
	o := store.ApplyOptions(opts...)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: creating the data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: data directory %q: the path may not contain '?' or '#'", dir)
	}
	// The writer never checkpoints: an automatic checkpoint runs inside the
	// commit that crosses 1,000 WAL pages and syncs the database file there,
	// a ~10 ms stall of that commit (the p99 of promoting a pending run).
	// The checkpointer connection does it off the commit path instead.
	w, err := openDB(path, "&_txlock=immediate&_pragma=wal_autocheckpoint(0)", 1)
	if err != nil {
		return nil, err
	}
	r, err := openDB(path, "&_pragma=query_only(1)", readConns)
	if err != nil {
		w.Close()
		return nil, err
	}
	ckpt, err := openDB(path, "", 1)
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	s := &Store{path: path, w: w, r: r, ckpt: ckpt, ws: newStmts(w), rs: newStmts(r),
		stopCkpt: make(chan struct{}), ckptDone: make(chan struct{})}
	s.Store = sqlstore.New(dialect{s}, o)
	go s.checkpoints()
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkpointEvery is how often the background checkpointer copies the WAL
// into the database file. A PASSIVE checkpoint waits for nobody; pages that
// a reader still needs are copied next time.
const checkpointEvery = time.Second

func (s *Store) checkpoints() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopCkpt:
			return
		case <-t.C:
			// An error (a busy database) only delays the copy to the next tick.
			_, _ = s.ckpt.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// openDB opens a pool of n connections. Times are bound as unix
// microseconds, what both drivers keep. In WAL mode synchronous(NORMAL)
// keeps every commit through a killed process (kill -9), and the database
// consistent through power loss, which may drop the last commits; FULL
// would keep those too, at an fsync per commit (docs/adr/0004-store.md).
func openDB(path, extra string, n int) (*sql.DB, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_time_integer_format=unix_micro" + extra
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// Migrate applies pending migrations through the writer connection.
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, sub)
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrating %s: %w", s.path, err)
	}
	return nil
}

// Close closes both pools, waiting for statements in flight.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopCkpt)
		<-s.ckptDone
		s.closeErr = errors.Join(s.ws.close(), s.rs.close(), s.w.Close(), s.r.Close(), s.ckpt.Close())
	})
	return s.closeErr
}

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

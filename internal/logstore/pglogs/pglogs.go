// Package pglogs is the shared log store of distributed mode: step output in
// Postgres (table log_chunks), so a server replica can show the log of a
// step that ran in another process (a worker, or another server).
//
// The process running a step keeps its local logstore (the fast path for
// itself) and also ships every masked line here through a Writer, which
// never blocks the step's output: lines wait in memory, bounded by a budget
// shared by all of the process's writers, and go out in chunks of up to
// 1024 lines or 64 KiB, FlushDelay after the first unsent line, and at
// Close. Each flush sends pg_notify(Channel, run id); followers wake on it
// through the process's LISTEN connection (see Notified), with a slow poll
// as a fallback. See docs/adr/0015-shared-logs.md.
package pglogs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runbookhq/runbook/internal/logstore"
)

// Channel is the NOTIFY channel of flushed chunks; the payload is the run id.
const Channel = "runbook_logs"

// AppName is the application_name of the store's connections.
const AppName = "runbook-logs"

const (
	chunkLines = 1024
	chunkBytes = 64 << 10
	// lineCost is what a buffered line counts against the budget besides
	// its text: the encoding's and the slices' overhead, roughly.
	lineCost = 24
)

// Options tunes a Store; zero values mean the defaults.
type Options struct {
	Logger *slog.Logger
	// Budget bounds the bytes of lines waiting to be shipped, across all
	// writers. Past it (Postgres down for long) new lines are dropped and
	// the log says so. Default 64 MiB.
	Budget int64
	// FlushDelay is how long the first unsent line waits for more. Default 50ms.
	FlushDelay time.Duration
	// Poll is how often a follower looks without a notification. Default 2s.
	Poll time.Duration
	// CloseWait bounds how long Writer.Close waits for its lines to reach
	// Postgres before leaving them to the background. Default 5s.
	CloseWait time.Duration
	// DrainWait bounds how long Store.Close waits for writers still
	// shipping. Default 10s.
	DrainWait time.Duration
}

// Store reads and writes the log_chunks table of one database.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	opts Options

	held atomic.Int64 // bytes of lines buffered by all writers

	ctx     context.Context // ends at Close (after the drain)
	cancel  context.CancelFunc
	writers sync.WaitGroup

	mu       sync.Mutex
	watchers map[int64]map[*watcher]struct{}
}

// Open connects to the database at url, whose migrations must be applied
// (postgres.Open does it). The store has its own small pool, so a burst of
// log writes never queues the scheduler's queries.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Budget <= 0 {
		opts.Budget = 64 << 20
	}
	if opts.FlushDelay <= 0 {
		opts.FlushDelay = 50 * time.Millisecond
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.CloseWait <= 0 {
		opts.CloseWait = 5 * time.Second
	}
	if opts.DrainWait <= 0 {
		opts.DrainWait = 10 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pglogs: the database URL does not parse: %w", err)
	}
	cfg.MaxConns = 5
	cfg.ConnConfig.RuntimeParams["application_name"] = AppName
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pglogs: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pglogs: cannot reach %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	return &Store{pool: pool, log: opts.Logger.With("component", "pglogs"), opts: opts,
		ctx: runCtx, cancel: cancel, watchers: map[int64]map[*watcher]struct{}{}}, nil
}

// Close waits up to DrainWait for writers still shipping (their lines are
// lost after that, and the log says how many), then disconnects.
func (s *Store) Close() {
	done := make(chan struct{})
	go func() { s.writers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.opts.DrainWait):
		s.log.Warn("closing with log lines not shipped yet; they are lost from the shared log store (the local log keeps them)")
	}
	s.cancel()
	<-done
	s.pool.Close()
}

// key is a log's primary key prefix in log_chunks.
type key struct {
	run     int64
	step    []byte
	attempt int
	name    logstore.Key
}

func toKey(k logstore.Key) (key, error) {
	run, err := strconv.ParseInt(k.Run, 10, 64)
	if err != nil {
		return key{}, fmt.Errorf("pglogs: %s: the run must be a server run id", k)
	}
	h := sha256.Sum256([]byte(k.Step))
	return key{run: run, step: h[:16], attempt: k.Attempt, name: k}, nil
}

// errNotFound wraps logstore.ErrNotFound, so callers test one error.
func errNotFound(k logstore.Key) error {
	return fmt.Errorf("%w: %s", logstore.ErrNotFound, k)
}

var errStop = errors.New("stop")

package pglogs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
)

// readTimeout bounds one query of Read and Stat, which take no context.
const readTimeout = 30 * time.Second

// chunk is one row of log_chunks.
type chunk struct {
	first int64
	lines int64
	ended bool
	data  []byte
}

// fetchLimit is how many chunks one query returns at most. Read starts
// with 2 (a short page rarely needs more than the chunk holding its first
// line and the next) and doubles up to it.
const fetchLimit = 32

// Chunks of k from the one holding line `from` on (aligned: from starts a
// chunk, or no chunk yet), in line order, at most fetchLimit. The primary
// key finds the start by line number: an index-only backward scan.
const (
	selectFrom = `
SELECT first_line, lines, ended, data FROM log_chunks
WHERE run_id = $1 AND step_key = $2 AND attempt = $3 AND first_line >= coalesce(
	(SELECT max(first_line) FROM log_chunks WHERE run_id = $1 AND step_key = $2 AND attempt = $3 AND first_line <= $4), 0)
ORDER BY first_line LIMIT $5`
	selectAligned = `
SELECT first_line, lines, ended, data FROM log_chunks
WHERE run_id = $1 AND step_key = $2 AND attempt = $3 AND first_line >= $4
ORDER BY first_line LIMIT $5`
)

func (s *Store) chunks(ctx context.Context, k key, from int64, aligned bool, n int) ([]chunk, error) {
	q := selectFrom
	if aligned {
		q = selectAligned
	}
	rows, err := s.pool.Query(ctx, q, k.run, k.step, k.attempt, from, n)
	if err != nil {
		return nil, fmt.Errorf("pglogs: reading the log of %s: %w", k.name, err)
	}
	var out []chunk
	var c chunk
	_, err = pgx.ForEachRow(rows, []any{&c.first, &c.lines, &c.ended, &c.data}, func() error {
		out = append(out, c)
		c.data = nil // Scan reuses a non-nil slice
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pglogs: reading the log of %s: %w", k.name, err)
	}
	return out, nil
}

// Read returns up to limit lines of k from line number from (1-based).
func (s *Store) Read(lk logstore.Key, from int64, limit int) ([]logline.Line, error) {
	k, err := toKey(lk)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, readTimeout)
	defer cancel()
	from = max(from, 1)
	var out []logline.Line
	next, aligned, found, n := from, false, false, 2
	for len(out) < limit {
		cs, err := s.chunks(ctx, k, next, aligned, n)
		if err != nil {
			return nil, err
		}
		found = found || len(cs) > 0
		ended := false
		for _, c := range cs {
			// The texts stay valid: each row's data is its own allocation.
			err := decode(c.data, c.first, next, func(l logline.Line) error {
				if len(out) >= limit {
					return errStop
				}
				out = append(out, l)
				return nil
			})
			if err != nil && !errors.Is(err, errStop) {
				return nil, fmt.Errorf("pglogs: log of %s, chunk at line %d: %w", lk, c.first, err)
			}
			next, ended = max(next, c.first+c.lines), c.ended
		}
		if len(cs) < n || ended {
			break
		}
		aligned, n = true, min(2*n, fetchLimit)
	}
	if !found {
		if _, err := s.stat(ctx, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Stat tells how many lines k has and whether its writer closed it.
func (s *Store) Stat(lk logstore.Key) (logstore.Info, error) {
	k, err := toKey(lk)
	if err != nil {
		return logstore.Info{}, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, readTimeout)
	defer cancel()
	return s.stat(ctx, k)
}

func (s *Store) stat(ctx context.Context, k key) (logstore.Info, error) {
	var last int64
	var ended bool
	err := s.pool.QueryRow(ctx, `SELECT first_line + lines - 1, ended FROM log_chunks
		WHERE run_id = $1 AND step_key = $2 AND attempt = $3 ORDER BY first_line DESC LIMIT 1`,
		k.run, k.step, k.attempt).Scan(&last, &ended)
	if errors.Is(err, pgx.ErrNoRows) {
		return logstore.Info{}, errNotFound(k.name)
	}
	if err != nil {
		return logstore.Info{}, fmt.Errorf("pglogs: log of %s: %w", k.name, err)
	}
	return logstore.Info{Lines: last, Complete: ended, Live: !ended}, nil
}

// Follow calls fn for every line of k from line number from on, as chunks
// arrive, and returns nil after the last line of an ended log, or ctx's or
// fn's error. It waits for a log that does not exist yet. It wakes on the
// writers' notifications, and polls every Options.Poll in case one is
// missed. l.Text is only valid during the call to fn.
func (s *Store) Follow(ctx context.Context, lk logstore.Key, from int64, fn func(logline.Line) error) error {
	k, err := toKey(lk)
	if err != nil {
		return err
	}
	w := s.watch(k.run)
	defer s.unwatch(w)
	poll := time.NewTicker(s.opts.Poll)
	defer poll.Stop()
	next, aligned := max(from, 1), false
	for {
		// Drain before querying: a note from now on wakes the next wait.
		select {
		case <-w.c:
		default:
		}
		cs, err := s.chunks(ctx, k, next, aligned, fetchLimit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		for _, c := range cs {
			if err := decode(c.data, c.first, next, fn); err != nil {
				if errors.Is(err, errCorrupt) {
					return fmt.Errorf("pglogs: log of %s, chunk at line %d: %w", lk, c.first, err)
				}
				return err
			}
			next, aligned = max(next, c.first+c.lines), true
			if c.ended {
				return nil
			}
		}
		if len(cs) == fetchLimit {
			continue
		}
		select {
		case <-w.c:
		case <-poll.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watcher is one follower waiting for notes about a run.
type watcher struct {
	run int64
	c   chan struct{}
}

func (s *Store) watch(run int64) *watcher {
	w := &watcher{run: run, c: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers[run] == nil {
		s.watchers[run] = map[*watcher]struct{}{}
	}
	s.watchers[run][w] = struct{}{}
	return w
}

func (s *Store) unwatch(w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watchers[w.run], w)
	if len(s.watchers[w.run]) == 0 {
		delete(s.watchers, w.run)
	}
}

// wake signals the watchers of run, or all of them when all is set.
func (s *Store) wake(run int64, all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r, ws := range s.watchers {
		if !all && r != run {
			continue
		}
		for w := range ws {
			select {
			case w.c <- struct{}{}:
			default:
			}
		}
	}
}

// Notified is the handler of Channel for the process's LISTEN connection
// (pgnotify.Options.Channels): it wakes the followers of the run in
// payload, or every follower for "", which pgnotify sends after a
// reconnect, since notes sent meanwhile were missed. Without it,
// followers find new chunks by polling every Options.Poll.
func (s *Store) Notified(payload string) {
	if payload == "" {
		s.wake(0, true)
		return
	}
	if run, err := strconv.ParseInt(payload, 10, 64); err == nil {
		s.wake(run, false)
	}
}

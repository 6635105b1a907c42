package pglogs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
)

// batch is one chunk to insert. It never changes once cut, so a retry after
// an unknown outcome inserts the same row or, ON CONFLICT, nothing.
type batch struct {
	first int64
	lines int
	ended bool
	data  []byte
	cost  int64 // budget held until shipped
}

// Writer ships one attempt's lines. WriteLine only buffers; a goroutine
// per writer inserts the chunks. WriteLine and Close must not race.
type Writer struct {
	s *Store
	k key

	mu       sync.Mutex
	enc      encoder // lines not cut into a batch yet
	encFirst int64
	encLines int
	encCost  int64
	encSince time.Time
	ready    []batch
	next     int64 // number of the next line
	dropFrom int64 // first line of a pending gap, 0 for none
	dropped  int64 // lines dropped in all
	closed   bool

	kick chan struct{}
	done chan struct{}
	err  error // set before done closes: why lines were lost
}

// Create starts shipping k's lines. It fails only for a key that is not a
// server run's (see logstore.RunKey). Nothing is written before the first line.
func (s *Store) Create(k logstore.Key) (*Writer, error) {
	kk, err := toKey(k)
	if err != nil {
		return nil, err
	}
	w := &Writer{s: s, k: kk, next: 1, kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.writers.Add(1)
	go w.run()
	return w, nil
}

// WriteLine queues l; l.N must follow the previous line's. It never waits
// on Postgres: when the budget is spent the line is dropped and counted.
func (w *Writer) WriteLine(l logline.Line) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return logstore.ErrClosed
	case l.N != w.next:
		return fmt.Errorf("pglogs: log of %s: got line %d, want %d", w.k.name, l.N, w.next)
	case l.Stream != logline.Stdout && l.Stream != logline.Stderr:
		return fmt.Errorf("pglogs: log of %s: line %d has stream %d", w.k.name, l.N, l.Stream)
	}
	w.next++
	cost := int64(len(l.Text)) + lineCost
	// Once dropping, resume only when half the budget is free: a gap note
	// per line that happens to fit would bury the log.
	limit := w.s.opts.Budget
	if w.dropFrom != 0 {
		limit /= 2
	}
	if w.s.held.Add(cost) > limit {
		w.s.held.Add(-cost)
		if w.dropFrom == 0 {
			w.dropFrom = l.N
			w.s.log.Warn("the shared log store is behind and the log buffer is full; dropping lines until it catches up",
				"run", w.k.name.Run, "attempt", w.k.attempt)
		}
		w.dropped++
		return nil
	}
	if w.dropFrom != 0 {
		w.cutGap(l.N, l.Time)
	}
	if w.encLines == 0 {
		w.encFirst, w.encSince = l.N, time.Now()
	}
	w.enc.line(l)
	w.encLines++
	w.encCost += cost
	if w.encLines >= chunkLines || len(w.enc.buf) >= chunkBytes {
		w.cut(false)
	}
	w.signal()
	return nil
}

func (w *Writer) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// cut turns the buffered lines into a batch; with ended, even none.
func (w *Writer) cut(ended bool) {
	if w.encLines == 0 && !ended {
		return
	}
	first := w.encFirst
	if w.encLines == 0 {
		first = w.next
	}
	data := w.enc.buf
	if data == nil {
		data = []byte{} // the empty end chunk: NULL is not an empty bytea
	}
	w.ready = append(w.ready, batch{first: first, lines: w.encLines, ended: ended, data: data, cost: w.encCost})
	w.enc = encoder{}
	w.encLines, w.encCost = 0, 0
}

// cutGap records the lines dropped before line `upto` as a gap chunk.
func (w *Writer) cutGap(upto int64, at time.Time) {
	w.cut(false)
	var e encoder
	e.gap(upto-w.dropFrom, at)
	w.ready = append(w.ready, batch{first: w.dropFrom, lines: int(upto - w.dropFrom), data: e.buf})
	w.dropFrom = 0
}

// Close ships what is buffered and marks the log ended. It waits up to
// Options.CloseWait; past that the lines keep going out in the background
// and Close says so. It returns an error too when lines were dropped.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	if w.dropFrom != 0 {
		w.cutGap(w.next, time.Now())
	}
	w.cut(true)
	dropped := w.dropped
	w.mu.Unlock()
	w.signal()
	select {
	case <-w.done:
	case <-time.After(w.s.opts.CloseWait):
		return fmt.Errorf("pglogs: log of %s: still shipping to Postgres after %v; continuing in the background", w.k.name, w.s.opts.CloseWait)
	}
	if w.err != nil {
		return w.err
	}
	if dropped > 0 {
		return fmt.Errorf("pglogs: log of %s: %d lines were dropped from the shared log store while Postgres was unreachable", w.k.name, dropped)
	}
	return nil
}

// maxShip bounds the chunks of one insert (one statement, one round trip).
const maxShip = 64

// run inserts batches as they are cut, and cuts lines that waited
// FlushDelay, until the ended batch is in or the store closes.
func (w *Writer) run() {
	defer w.s.writers.Done()
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	backoff := 50 * time.Millisecond
	failures := 0
	for {
		w.mu.Lock()
		var wait time.Duration
		if w.encLines > 0 {
			if wait = w.s.opts.FlushDelay - time.Since(w.encSince); wait <= 0 {
				w.cut(false)
				wait = 0
			}
		}
		todo := w.ready[:min(len(w.ready), maxShip)]
		finished := w.closed && len(w.ready) == 0
		w.mu.Unlock()
		if finished {
			return
		}
		if len(todo) > 0 {
			err := w.ship(todo)
			if err == nil {
				if failures > 0 {
					w.s.log.Info("shipping log lines works again", "run", w.k.name.Run, "attempt", w.k.attempt, "failures", failures)
				}
				failures, backoff = 0, 50*time.Millisecond
				var cost int64
				for _, b := range todo {
					cost += b.cost
				}
				w.s.held.Add(-cost)
				w.mu.Lock()
				w.ready = w.ready[len(todo):]
				w.mu.Unlock()
				continue
			}
			if w.s.ctx.Err() != nil {
				w.lost()
				return
			}
			if failures++; failures == 1 || failures%20 == 0 {
				w.s.log.Warn("shipping log lines to Postgres failed; retrying", "run", w.k.name.Run, "attempt", w.k.attempt,
					"failures", failures, "err", err)
			}
			wait = backoff
			backoff = min(2*backoff, 2*time.Second)
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-w.kick:
		case <-timer.C:
		case <-w.s.ctx.Done():
			w.lost()
			return
		}
		timer.Stop()
	}
}

// lost records that the store closed before the log was shipped.
func (w *Writer) lost() {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines int64
	var cost int64
	for _, b := range w.ready {
		lines += int64(b.lines)
		cost += b.cost
	}
	lines += int64(w.encLines)
	cost += w.encCost
	w.s.held.Add(-cost)
	w.ready, w.enc, w.encLines, w.encCost = nil, encoder{}, 0, 0
	w.err = fmt.Errorf("pglogs: log of %s: the store closed with %d lines not shipped", w.k.name, lines)
	w.s.log.Warn("log lines not shipped before shutdown; the shared log store lacks them", "run", w.k.name.Run, "attempt", w.k.attempt, "lines", lines)
}

const insertChunks = `
WITH ins AS (
	INSERT INTO log_chunks (run_id, step_key, attempt, first_line, lines, ended, data)
	SELECT $1, $2, $3, f, n, e, d FROM unnest($4::bigint[], $5::int[], $6::bool[], $7::bytea[]) AS u(f, n, e, d)
	ON CONFLICT DO NOTHING
)
SELECT pg_notify('` + Channel + `', $8)`

// ship inserts bs and notifies followers, in one statement: the note is
// delivered when the rows are visible.
func (w *Writer) ship(bs []batch) error {
	firsts := make([]int64, len(bs))
	lines := make([]int32, len(bs))
	ended := make([]bool, len(bs))
	data := make([][]byte, len(bs))
	for i, b := range bs {
		firsts[i], lines[i], ended[i], data[i] = b.first, int32(b.lines), b.ended, b.data
	}
	ctx, cancel := context.WithTimeout(w.s.ctx, 30*time.Second)
	defer cancel()
	_, err := w.s.pool.Exec(ctx, insertChunks, w.k.run, w.k.step, w.k.attempt, firsts, lines, ended, data,
		strconv.FormatInt(w.k.run, 10))
	if err != nil && errors.Is(err, context.Canceled) && w.s.ctx.Err() == nil {
		return fmt.Errorf("pglogs: insert interrupted: %w", err)
	}
	return err
}

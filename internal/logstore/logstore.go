// Package logstore keeps step output: append-only, chunked, numbered lines
// per step attempt, readable by line range and followable live.
//
// Each log is two files under the store's directory: a data file of framed
// records and an index with the offset of every chunk of 1024 lines (see
// format.go). Files are chosen over SQLite by measurement: see
// docs/adr/0003-log-store.md.
package logstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/runbookhq/runbook/internal/logline"
)

var (
	// ErrNotFound: no log was ever created for the key.
	ErrNotFound = errors.New("logstore: no such log")
	// ErrExists: Create was called for a key that already has a log. Logs are
	// append-only; a new attempt gets a new key.
	ErrExists = errors.New("logstore: log already exists")
	// ErrClosed: the Writer or Store was closed.
	ErrClosed = errors.New("logstore: closed")
)

// Key names the log of one attempt of one step of one run. Step is the
// user's step name and may contain any characters.
type Key struct {
	Run     string
	Step    string
	Attempt int
}

func (k Key) String() string {
	return fmt.Sprintf("run %q step %q attempt %d", k.Run, k.Step, k.Attempt)
}

// RunKey is the key of a server run's step attempt: the run's id in decimal,
// which is also what the scheduler gives executors as the run id.
func RunKey(runID int64, step string, attempt int) Key {
	return Key{Run: strconv.FormatInt(runID, 10), Step: step, Attempt: attempt}
}

// Store is the embedded log store rooted in a directory. One Store (one
// process) owns a directory at a time; Open enforces it with a lock file, so
// a log without a live Writer in this Store can never grow again.
type Store struct {
	dir  string
	lock *os.File

	mu      sync.Mutex
	writers map[Key]*Writer
	created chan struct{} // closed and replaced on every Create
	closed  bool
}

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		return nil, fmt.Errorf("logstore: create log directory: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, lock: lock, writers: map[Key]*Writer{}, created: make(chan struct{})}, nil
}

// Close releases the directory. Writers still open keep working, but the
// store may then be opened again elsewhere; close them first.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.lock.Close()
}

// paths maps k to its data and index files. Names are hashes of the run and
// the step, so no step name (slashes, "..", NUL, unicode, 10 KB long) can
// reach outside the directory or exceed a file-name limit; the data file's
// header records the real key and is checked on every open.
func (s *Store) paths(k Key) (dir, data, index string) {
	dir = filepath.Join(s.dir, "runs", nameHash(k.Run))
	base := filepath.Join(dir, nameHash(k.Step)+"."+strconv.Itoa(k.Attempt))
	return dir, base + ".log", base + ".idx"
}

// Create starts the log of k. The Writer is an executor.Sink.
func (s *Store) Create(k Key) (*Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	dir, data, index := s.paths(k)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logstore: create log of %s: %w", k, err)
	}
	w, err := newWriter(s, k, data, index)
	if err != nil {
		return nil, err
	}
	s.writers[k] = w
	close(s.created)
	s.created = make(chan struct{})
	return w, nil
}

// source is where a reader finds a log: its live writer or, when there is
// none, the files as they are (complete, or cut short by a crash).
type source struct {
	w           *Writer // nil for a finished log
	data, index string
}

// resolve finds k's log. When it does not exist it returns ErrNotFound and a
// channel that is closed at the next Create.
func (s *Store) resolve(k Key) (source, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, data, index := s.paths(k)
	if w := s.writers[k]; w != nil {
		return source{w: w, data: data, index: index}, nil, nil
	}
	if _, err := os.Stat(data); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return source{}, s.created, fmt.Errorf("%w: %s", ErrNotFound, k)
		}
		return source{}, nil, fmt.Errorf("logstore: %s: %w", k, err)
	}
	return source{data: data, index: index}, nil, nil
}

// Read returns up to limit lines of k starting at line number from (1-based).
// A range past the end yields the lines that exist, possibly none.
func (s *Store) Read(k Key, from int64, limit int) ([]logline.Line, error) {
	src, _, err := s.resolve(k)
	if err != nil {
		return nil, err
	}
	from = max(from, 1)
	r, err := openReader(k, src, from)
	if err != nil {
		return nil, err
	}
	defer r.close()
	var out []logline.Line
	var arena []byte // one allocation for all texts, not one per line
	err = r.scan(from, func(l logline.Line) error {
		if len(out) >= limit {
			return errStop
		}
		if arena == nil {
			arena = make([]byte, 0, min(limit, 256)*96)
		}
		if cap(arena)-len(arena) < len(l.Text) {
			arena = make([]byte, 0, max(cap(arena), len(l.Text)))
		}
		start := len(arena)
		arena = append(arena, l.Text...)
		l.Text = arena[start:len(arena):len(arena)]
		out = append(out, l)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

// Follow calls fn for every line of k from line number from on, as lines
// arrive, and returns nil once the log is closed and every line was delivered,
// or ctx's error, or fn's error. A log cut short by a crash ends where its
// valid lines end. When k does not exist yet Follow waits for its Create.
// l.Text is only valid during the call to fn.
//
// Lines reach followers when the writer flushes: at once in a burst, and at
// most flushDelay after the last line when the writer goes idle.
func (s *Store) Follow(ctx context.Context, k Key, from int64, fn func(logline.Line) error) error {
	for {
		src, created, err := s.resolve(k)
		if err == nil {
			return s.follow(ctx, k, src, max(from, 1), fn)
		}
		if created == nil {
			return err
		}
		select {
		case <-created:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Store) follow(ctx context.Context, k Key, src source, from int64, fn func(logline.Line) error) error {
	r, err := openReader(k, src, from)
	if err != nil {
		return err
	}
	defer r.close()
	// Check ctx now and then while draining a long stored log.
	var n int
	deliver := func(l logline.Line) error {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return fn(l)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var changed <-chan struct{}
		if src.w != nil {
			r.limit, r.lines, r.done, changed = src.w.published()
		}
		err := r.scan(from, deliver)
		if err != nil || r.ended || src.w == nil || r.done {
			// A finished log and a closed writer have nothing more to give.
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Info describes a log.
type Info struct {
	Lines    int64 // lines stored (and valid)
	Complete bool  // the writer closed it; false while live or after a crash
	Live     bool  // a Writer in this Store is appending to it
}

// Stat tells how many lines k has and whether it is complete.
func (s *Store) Stat(k Key) (Info, error) {
	src, _, err := s.resolve(k)
	if err != nil {
		return Info{}, err
	}
	if src.w != nil {
		_, lines, done, _ := src.w.published()
		return Info{Lines: lines, Complete: done, Live: !done}, nil
	}
	r, err := openReader(k, src, 1<<62) // starts at the last indexed chunk
	if err != nil {
		return Info{}, err
	}
	defer r.close()
	if err := r.scan(1<<62, func(logline.Line) error { return nil }); err != nil {
		return Info{}, err
	}
	return Info{Lines: r.cur.line - 1, Complete: r.trailer}, nil
}

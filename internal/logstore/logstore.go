// Package logstore keeps step output: append-only, chunked, numbered lines
// per step attempt, readable by line range and followable live.
package logstore

import (
	"context"

	"github.com/runbookhq/runbook/internal/logline"
)

// Key names the log of one attempt of one step of one run. Step is the
// user's step name and may contain any characters.
type Key struct {
	Run     string
	Step    string
	Attempt int
}

// Store is the embedded log store rooted in a directory.
type Store struct{}

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) { panic("TODO") }

// Create starts the log of k. The Writer is an executor.Sink.
func (s *Store) Create(k Key) (*Writer, error) { panic("TODO") }

// Read returns up to limit lines of k starting at line number from (1-based).
func (s *Store) Read(k Key, from int64, limit int) ([]logline.Line, error) { panic("TODO") }

// Follow calls fn for every line of k from line number from on, as lines
// arrive, and returns nil once the log is closed and every line was delivered,
// or ctx's error, or fn's error.
func (s *Store) Follow(ctx context.Context, k Key, from int64, fn func(logline.Line) error) error {
	panic("TODO")
}

// Writer appends the lines of one log.
type Writer struct{}

// WriteLine appends l; l.N must be one more than the previous line's.
func (w *Writer) WriteLine(l logline.Line) error { panic("TODO") }

// Close flushes and marks the log complete; followers then finish.
func (w *Writer) Close() error { panic("TODO") }

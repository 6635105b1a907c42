package server

import (
	"context"
	"errors"

	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
)

// LayeredLogs reads a step log from the local store when this process ran
// the step (the fast path: files, notified in-process), else from the
// shared store every step-running process ships to (distributed mode).
type LayeredLogs struct {
	Local  Logs
	Shared Logs
}

var _ Logs = LayeredLogs{}

func (l LayeredLogs) Read(k logstore.Key, from int64, limit int) ([]logline.Line, error) {
	lines, err := l.Local.Read(k, from, limit)
	if errors.Is(err, logstore.ErrNotFound) {
		return l.Shared.Read(k, from, limit)
	}
	return lines, err
}

func (l LayeredLogs) Stat(k logstore.Key) (logstore.Info, error) {
	info, err := l.Local.Stat(k)
	if errors.Is(err, logstore.ErrNotFound) {
		return l.Shared.Stat(k)
	}
	return info, err
}

// Follow follows the local log when it exists. Otherwise the shared one,
// which also waits for a log not created yet: processes that run steps
// ship every log there, this one included, so a step that starts here
// later is followed through the shared store too, only less promptly.
func (l LayeredLogs) Follow(ctx context.Context, k logstore.Key, from int64, fn func(logline.Line) error) error {
	if _, err := l.Local.Stat(k); err == nil {
		return l.Local.Follow(ctx, k, from, fn)
	}
	return l.Shared.Follow(ctx, k, from, fn)
}

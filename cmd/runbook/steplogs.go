package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/logstore/pglogs"
	"github.com/runbookhq/runbook/internal/scheduler"
	"github.com/runbookhq/runbook/internal/server"
)

// stepLogs are the log stores of a process that runs steps: its own files
// and, on Postgres, the shared copy that every server reads (nil on SQLite,
// where one process does everything).
type stepLogs struct {
	local  *logstore.Store
	shared *pglogs.Store
}

func openStepLogs(ctx context.Context, dataDir, databaseURL string, log *slog.Logger) (stepLogs, error) {
	local, err := logstore.Open(filepath.Join(dataDir, "logs"))
	if err != nil {
		return stepLogs{}, err
	}
	l := stepLogs{local: local}
	if databaseURL != "" {
		if l.shared, err = pglogs.Open(ctx, databaseURL, pglogs.Options{Logger: log}); err != nil {
			local.Close()
			return stepLogs{}, err
		}
	}
	return l, nil
}

// tee is the scheduler's copy of each step's lines into the shared store.
func (l stepLogs) tee() scheduler.LogTee {
	if l.shared == nil {
		return nil
	}
	return func(k logstore.Key) (scheduler.TeeSink, error) { return l.shared.Create(k) }
}

// api is what the API reads: this process's files first, then the shared copy.
func (l stepLogs) api() server.Logs {
	if l.shared == nil {
		return l.local
	}
	return server.LayeredLogs{Local: l.local, Shared: l.shared}
}

// listen is what the process's LISTEN connection must hear for the API's
// followers of the shared copy.
func (l stepLogs) listen() map[string]func(string) {
	if l.shared == nil {
		return nil
	}
	return map[string]func(string){pglogs.Channel: l.shared.Notified}
}

// Close ends the shared copy first: its writers finish shipping.
func (l stepLogs) Close() {
	if l.shared != nil {
		l.shared.Close()
	}
	l.local.Close()
}

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlite"
)

// Commits never checkpoint (that stalled the commit that crossed 1,000 WAL
// pages); the background checkpointer copies the WAL into the database file
// instead, so the file grows while the store stays open.
func TestWALIsCheckpointedInTheBackground(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := context.Background()
	tn, err := s.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, sqlite.FileName)
	before := size(t, db)
	src := "steps:\n  - {name: a, command: \"true\"}\n  - {name: b, command: \"" + strings.Repeat("x", 2000) + "\"}\n"
	for range 200 {
		if _, err := s.CreateRun(ctx, store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte(src), Trigger: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size(t, db) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still %d bytes 10 s after 200 commits: nothing checkpointed the WAL", db, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

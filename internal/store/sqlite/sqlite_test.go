package sqlite_test

import (
	"context"
	"testing"

	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlite"
	"github.com/runbookhq/runbook/internal/store/storetest"
)

// storage gives each test its own data directory.
func storage(tb testing.TB) storetest.Opener {
	dir := tb.TempDir()
	return func(tb testing.TB, opts ...store.Option) store.Store {
		s, err := sqlite.Open(context.Background(), dir, opts...)
		if err != nil {
			tb.Fatalf("sqlite.Open(%s): %v", dir, err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
}

func TestStore(t *testing.T) { storetest.Run(t, storage) }

func openDir(tb testing.TB, dir string) store.Store {
	s, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		tb.Fatalf("sqlite.Open(%s): %v", dir, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestCrashRecovery kills a process writing to the store with SIGKILL.
func TestCrashRecovery(t *testing.T) {
	if dir := storetest.CrashLocation(); dir != "" {
		storetest.CrashChild(openDir(t, dir))
	}
	storetest.CrashRecovery(t, "TestCrashRecovery", t.TempDir(), openDir)
}

func BenchmarkApply(b *testing.B) { storetest.BenchApply(b, storage) }

func BenchmarkTrigger(b *testing.B) { storetest.BenchTrigger(b, storage) }

package postgres_test

import (
	"context"
	"testing"

	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/storetest"
	"github.com/runbookhq/runbook/internal/testdb"
)

// storage gives each test a fresh database, so tests run in parallel
// without seeing each other's rows.
func storage(tb testing.TB) storetest.Opener {
	dbURL := testdb.New(tb)
	return func(tb testing.TB, opts ...store.Option) store.Store { return openURL(tb, dbURL, opts...) }
}

func openURL(tb testing.TB, dbURL string, opts ...store.Option) store.Store {
	s, err := postgres.Open(context.Background(), dbURL, opts...)
	if err != nil {
		tb.Fatalf("postgres.Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	testdb.Require(t)
	storetest.Run(t, storage)
}

// TestCrashRecovery kills a process writing to the store with SIGKILL.
func TestCrashRecovery(t *testing.T) {
	if dbURL := storetest.CrashLocation(); dbURL != "" {
		storetest.CrashChild(openURL(t, dbURL))
	}
	testdb.Require(t)
	storetest.CrashRecovery(t, "TestCrashRecovery", testdb.New(t), func(tb testing.TB, dbURL string) store.Store {
		return openURL(tb, dbURL)
	})
}

func BenchmarkApply(b *testing.B) {
	testdb.Require(b)
	storetest.BenchApply(b, storage)
}

func BenchmarkTrigger(b *testing.B) {
	testdb.Require(b)
	storetest.BenchTrigger(b, storage)
}

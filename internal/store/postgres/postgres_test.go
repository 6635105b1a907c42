package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/storetest"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// adminURL is the server the tests create their databases on.
func adminURL() string {
	if u := os.Getenv("RUNBOOK_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultURL
}

// requireServer skips the test when no Postgres answers, with how to start
// one, except in CI, which must really test Postgres.
func requireServer(tb testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL())
	if err == nil {
		conn.Close(ctx)
		return
	}
	msg := "no Postgres at " + redact(adminURL()) + ": " + err.Error() +
		"\nstart one with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start" +
		"\n(or point RUNBOOK_TEST_DATABASE_URL at another server)"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// storage gives each test a fresh database, so tests run in parallel
// without seeing each other's rows.
func storage(tb testing.TB) storetest.Opener {
	dbURL := newDatabase(tb)
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

// newDatabase creates a database for one test, dropped when it ends, and
// returns its URL.
func newDatabase(tb testing.TB) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		tb.Fatalf("connecting to %s to create a test database: %v", redact(adminURL()), err)
	}
	defer admin.Close(context.Background())
	name := "runbook_test_" + randomHex()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("creating test database %s: %v", name, err)
	}
	tb.Cleanup(func() { // runs after every store of the test is closed
		conn, err := pgx.Connect(context.Background(), adminURL())
		if err != nil {
			tb.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(adminURL())
	if err != nil {
		tb.Fatalf("RUNBOOK_TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func TestStore(t *testing.T) {
	requireServer(t)
	storetest.Run(t, storage)
}

// TestCrashRecovery kills a process writing to the store with SIGKILL.
func TestCrashRecovery(t *testing.T) {
	if dbURL := storetest.CrashLocation(); dbURL != "" {
		storetest.CrashChild(openURL(t, dbURL))
	}
	requireServer(t)
	storetest.CrashRecovery(t, "TestCrashRecovery", newDatabase(t), func(tb testing.TB, dbURL string) store.Store {
		return openURL(tb, dbURL)
	})
}

func BenchmarkApply(b *testing.B) {
	requireServer(b)
	storetest.BenchApply(b, storage)
}

// Package testdb gives tests a fresh Postgres database each, on the server
// the machine runs (127.0.0.1:5432 by default). It is imported by tests only.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server tests create their databases on:
// RUNBOOK_TEST_DATABASE_URL, or the local default.
func AdminURL() string {
	if u := os.Getenv("RUNBOOK_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultURL
}

// Require skips the test when no Postgres answers, saying how to start one,
// except under CI=true, which must really test Postgres.
func Require(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, AdminURL())
	if err == nil {
		conn.Close(ctx)
		return
	}
	msg := "no Postgres at " + Redact(AdminURL()) + ": " + err.Error() +
		"\nstart one with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start" +
		"\n(or point RUNBOOK_TEST_DATABASE_URL at another server)"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// New creates a database for one test, dropped (connections and all) when
// the test ends, and returns its URL. It calls Require first. Register the
// cleanups that close stores after calling New, so they run before the drop.
func New(tb testing.TB) string {
	tb.Helper()
	Require(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("connecting to %s to create a test database: %v", Redact(AdminURL()), err)
	}
	defer admin.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b)
	name := "runbook_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("creating test database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), AdminURL())
		if err != nil {
			tb.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		tb.Fatalf("RUNBOOK_TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Redact hides the password of a database URL for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

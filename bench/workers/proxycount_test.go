package workers

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/testdb"
)

// The proxy counts what the bench reports: statements without BEGIN and
// COMMIT, one transaction per block or per statement outside one (also a
// pipelined batch up to its Sync), and delivered notifications.
func TestProxyCounts(t *testing.T) {
	ctx := context.Background()
	u := testdb.New(t)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, pu.Host)
	pu.Host = px.addr()
	conn, err := pgx.Connect(ctx, pu.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	before := px.snapshot()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TABLE t (n int)")       // simple protocol: 1 statement, 1 transaction
	exec("INSERT INTO t VALUES ($1)", 1) // extended: 1, 1
	tx, err := conn.Begin(ctx)           // a block: 2 statements, 1 transaction
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1)", 2); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM t WHERE n > $1", 0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{} // one implicit transaction: 2 statements, 1 transaction
	b.Queue("INSERT INTO t VALUES ($1)", 3)
	b.Queue("INSERT INTO t VALUES ($1)", 4)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	exec("LISTEN bench")                                     // 1, 1
	exec("LISTEN " + postgres.OutboxChannel)                 // 1, 1
	exec("SELECT pg_notify('bench', 'x')")                   // 1, 1, and a notification to ourselves
	exec("SELECT pg_notify($1, '')", postgres.OutboxChannel) // 1, 1, and a wake
	for range 2 {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := px.snapshot().minus(before)
	if want := (counts{stmts: 10, txns: 8, notifies: 2, wakes: 1}); got != want || n != 2 {
		t.Errorf("counted %+v (count %d), want %+v (count 2)", got, n, want)
	}
}

package pgnotify

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/testdb"
)

const waitLimit = 30 * time.Second

func start(t *testing.T, url string, opts Options) *Fanout {
	t.Helper()
	f, err := Start(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func recv(t *testing.T, s *eventbus.Subscription) eventbus.Note {
	t.Helper()
	select {
	case n := <-s.C:
		return n
	case <-time.After(waitLimit):
		t.Fatalf("no note on %s within %v", "subscription", waitLimit)
		return eventbus.Note{}
	}
}

// Two processes' buses on two connections to one database: a Publish on
// either reaches the other's subscribers, with its seq.
func TestBusFanOutBetweenTwoConnections(t *testing.T) {
	url := testdb.New(t)
	a, b := eventbus.New(), eventbus.New()
	start(t, url, Options{Bus: a})
	start(t, url, Options{Bus: b})

	onB := b.Subscribe("run/7")
	defer onB.Close()
	onA := a.Subscribe("run/7")
	defer onA.Close()

	a.Publish(eventbus.Note{Topic: "run/7", Seq: 42})
	if n := recv(t, onA); n.Seq != 42 {
		t.Errorf("local subscriber got %+v, want seq 42", n)
	}
	if n := recv(t, onB); n != (eventbus.Note{Topic: "run/7", Seq: 42}) {
		t.Errorf("remote subscriber got %+v, want run/7 seq 42", n)
	}

	b.Publish(eventbus.Note{Topic: "run/7", Seq: 43})
	if n := recv(t, onA); n.Seq != 43 {
		t.Errorf("A got %+v from B, want seq 43", n)
	}
	if n := recv(t, onB); n.Seq != 43 {
		t.Errorf("B's own subscriber got %+v, want seq 43", n)
	}
	// B's own note came back over NOTIFY too, and was dropped as its own:
	// the next note B sees is A's next one.
	a.Publish(eventbus.Note{Topic: "run/7", Seq: 44})
	if n := recv(t, onB); n.Seq != 44 {
		t.Errorf("B got %+v, want seq 44 (its own note must not be delivered twice)", n)
	}
}

// A channel handler is called for a NOTIFY sent by any connection, such as
// the one a store's transaction commits.
func TestChannelHandler(t *testing.T) {
	url := testdb.New(t)
	got := make(chan string, 4)
	start(t, url, Options{Channels: map[string]func(string){"runbook_outbox": func(p string) { got <- p }}})

	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `SELECT pg_notify('runbook_outbox', 'hello')`); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "hello" {
			t.Errorf("payload %q, want hello", p)
		}
	case <-time.After(waitLimit):
		t.Fatal("handler not called")
	}
}

// After the listening connection is killed, the fan-out reconnects, tells
// every handler (notifications may have been missed) and listens again.
func TestReconnectAfterConnectionKilled(t *testing.T) {
	url := testdb.New(t)
	got := make(chan string, 16)
	f := start(t, url, Options{Channels: map[string]func(string){"runbook_outbox": func(p string) { got <- p }}})
	_ = f

	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "" {
			t.Fatalf("first call after the kill has payload %q, want the reconnect call with \"\"", p)
		}
	case <-time.After(waitLimit):
		t.Fatal("no reconnect call")
	}
	if _, err := conn.Exec(ctx, `SELECT pg_notify('runbook_outbox', 'again')`); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "again" {
			t.Errorf("payload %q, want again", p)
		}
	case <-time.After(waitLimit):
		t.Fatal("not listening after the reconnect")
	}
}

// Package pgnotify connects a process to Postgres LISTEN/NOTIFY: it relays
// an eventbus.Bus between server replicas (a Publish in one process reaches
// the subscribers of every other), and it calls handlers for other
// channels, such as the outbox channel that wakes a scheduler's claim loop.
//
// One dedicated connection LISTENs (a pooled one cannot: LISTEN belongs to
// a session); notes are sent from a small pool, batched per round trip.
// When the listening connection drops it reconnects with backoff, and then
// calls every handler and re-delivers every bus topic, because whatever
// was sent meanwhile was missed.
package pgnotify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runbookhq/runbook/internal/eventbus"
)

// BusChannel carries bus notes between processes. Payload: "origin seq topic".
const BusChannel = "runbook_bus"

// Options configures Start.
type Options struct {
	// Bus, when set, is relayed both ways: its Publish goes out on
	// BusChannel, and notes of other processes are delivered to it.
	Bus *eventbus.Bus
	// Channels maps more channels to LISTEN on to their handlers. A handler
	// is called with "" after every reconnect. Handlers must not block.
	Channels map[string]func(payload string)
	Logger   *slog.Logger
}

// Fanout is a running LISTEN connection plus the bus relay.
type Fanout struct {
	connString string
	opts       Options
	log        *slog.Logger
	origin     string
	pool       *pgxpool.Pool

	mu      sync.Mutex
	pending map[string]int64 // topic → newest seq, not sent yet
	kick    chan struct{}

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Start connects, LISTENs, and returns once the first LISTEN is in place,
// so nothing published after Start returns is missed. Close stops it.
func Start(ctx context.Context, connString string, opts Options) (*Fanout, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: parsing the database URL: %w", err)
	}
	cfg.MaxConns = 2
	var id [6]byte
	rand.Read(id[:])
	runCtx, cancel := context.WithCancel(context.Background())
	f := &Fanout{
		connString: connString,
		opts:       opts,
		log:        opts.Logger.With("component", "pgnotify"),
		origin:     hex.EncodeToString(id[:]),
		pending:    map[string]int64{},
		kick:       make(chan struct{}, 1),
		cancel:     cancel,
	}
	if f.pool, err = pgxpool.NewWithConfig(runCtx, cfg); err != nil {
		cancel()
		return nil, fmt.Errorf("pgnotify: %w", err)
	}
	conn, err := f.connect(ctx)
	if err != nil {
		cancel()
		f.pool.Close()
		return nil, err
	}
	f.done.Add(2)
	go f.listen(runCtx, conn)
	go f.send(runCtx)
	if opts.Bus != nil {
		opts.Bus.SetRelay(f)
	}
	return f, nil
}

// Close stops listening and relaying. Notes not sent yet are dropped:
// readers recover them by re-reading.
func (f *Fanout) Close() {
	if f.opts.Bus != nil {
		f.opts.Bus.SetRelay(nil)
	}
	f.cancel()
	f.done.Wait()
	f.pool.Close()
}

// Send implements eventbus.Relay: it queues n, folding it with any unsent
// note of the same topic, and never blocks.
func (f *Fanout) Send(n eventbus.Note) {
	f.mu.Lock()
	if old, ok := f.pending[n.Topic]; !ok || n.Seq > old {
		f.pending[n.Topic] = n.Seq
	}
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *Fanout) channels() []string {
	chs := make([]string, 0, len(f.opts.Channels)+1)
	if f.opts.Bus != nil {
		chs = append(chs, BusChannel)
	}
	for ch := range f.opts.Channels {
		chs = append(chs, ch)
	}
	return chs
}

func (f *Fanout) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, f.connString)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: connecting: %w", err)
	}
	for _, ch := range f.channels() {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("pgnotify: LISTEN %s: %w", ch, err)
		}
	}
	return conn, nil
}

// listen dispatches notifications until ctx ends, reconnecting as needed.
func (f *Fanout) listen(ctx context.Context, conn *pgx.Conn) {
	defer f.done.Done()
	wait := 100 * time.Millisecond
	for {
		for conn != nil {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				if ctx.Err() != nil {
					return
				}
				f.log.Warn("LISTEN connection lost; reconnecting", "err", err)
				break
			}
			wait = 100 * time.Millisecond
			f.dispatch(n.Channel, n.Payload)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var err error
		if conn, err = f.connect(ctx); err != nil {
			wait = min(2*wait, 5*time.Second)
			f.log.Warn("LISTEN reconnect failed; retrying", "in", wait, "err", err)
			continue
		}
		// Whatever was notified while disconnected was missed.
		for _, h := range f.opts.Channels {
			h("")
		}
		if f.opts.Bus != nil {
			f.opts.Bus.DeliverAll()
		}
	}
}

func (f *Fanout) dispatch(channel, payload string) {
	if channel != BusChannel {
		if h := f.opts.Channels[channel]; h != nil {
			h(payload)
		}
		return
	}
	origin, rest, ok1 := strings.Cut(payload, " ")
	seq, topic, ok2 := strings.Cut(rest, " ")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok1 || !ok2 || err != nil {
		f.log.Warn("ignoring a malformed bus notification", "payload", payload)
		return
	}
	if origin == f.origin || f.opts.Bus == nil {
		return // our own: already delivered locally
	}
	f.opts.Bus.Deliver(eventbus.Note{Topic: topic, Seq: n})
}

// send flushes pending notes, one statement per batch, until ctx ends.
func (f *Fanout) send(ctx context.Context) {
	defer f.done.Done()
	wait := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		}
		f.mu.Lock()
		batch := f.pending
		f.pending = map[string]int64{}
		f.mu.Unlock()
		payloads := make([]string, 0, len(batch))
		for topic, seq := range batch {
			payloads = append(payloads, f.origin+" "+strconv.FormatInt(seq, 10)+" "+topic)
		}
		_, err := f.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, BusChannel, payloads)
		if err == nil {
			wait = 50 * time.Millisecond
			continue
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return
		}
		f.log.Warn("relaying bus notes failed; retrying", "notes", len(payloads), "in", wait, "err", err)
		for topic, seq := range batch { // put them back unless newer ones came
			f.Send(eventbus.Note{Topic: topic, Seq: seq})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

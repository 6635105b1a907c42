package pglogs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/eventbus/pgnotify"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/testdb"
)

// newDB returns the URL of a fresh, migrated database.
func newDB(t testing.TB) string {
	t.Helper()
	url := testdb.New(t)
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return url
}

func open(t testing.TB, url string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// listening wires s to a LISTEN connection as the servers do, through the
// process's pgnotify fanout.
func listening(t testing.TB, url string, s *Store) *Store {
	t.Helper()
	fan, err := pgnotify.Start(context.Background(), url, pgnotify.Options{Channels: map[string]func(string){Channel: s.Notified}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fan.Close)
	return s
}

var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

// line n of the test logs: streams alternate unevenly, texts vary in
// length (some empty, some not UTF-8), and times go back now and then.
func testLine(n int64) logline.Line {
	text := fmt.Appendf(nil, "line %d %s", n, strings.Repeat("x", int(n%97)))
	switch n % 13 {
	case 0:
		text = nil
	case 5:
		text = append(text, 0xff, 0xfe)
	}
	stream := logline.Stdout
	if n%3 == 0 {
		stream = logline.Stderr
	}
	return logline.Line{N: n, Stream: stream, Time: t0.Add(time.Duration(n*7919%1000) * time.Millisecond), Text: text}
}

func write(t testing.TB, w *Writer, from, to int64) {
	t.Helper()
	for n := from; n <= to; n++ {
		if err := w.WriteLine(testLine(n)); err != nil {
			t.Fatal(err)
		}
	}
}

func logKey(step string) logstore.Key { return logstore.RunKey(42, step, 1) }

func checkLines(t *testing.T, got []logline.Line, from, to int64) {
	t.Helper()
	if int64(len(got)) != to-from+1 {
		t.Fatalf("got %d lines, want %d (%d to %d)", len(got), to-from+1, from, to)
	}
	for i, l := range got {
		want := testLine(from + int64(i))
		if l.N != want.N || l.Stream != want.Stream || !l.Time.Equal(want.Time) || !bytes.Equal(l.Text, want.Text) {
			t.Fatalf("line %d: got {%d %v %v %q}, want {%d %v %v %q}", from+int64(i), l.N, l.Stream, l.Time, l.Text,
				want.N, want.Stream, want.Time, want.Text)
		}
	}
}

func TestWriterAndReaderOnTwoPools(t *testing.T) {
	url := newDB(t)
	ws, rs := open(t, url, Options{}), open(t, url, Options{})
	w, err := ws.Create(logKey("build/α step"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, 1, 5000)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := rs.Read(logKey("build/α step"), 1, 10000)
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, got, 1, 5000)
	info, err := rs.Stat(logKey("build/α step"))
	if err != nil || info != (logstore.Info{Lines: 5000, Complete: true}) {
		t.Fatalf("Stat = %+v, %v; want 5000 lines, complete", info, err)
	}
	// Another step, attempt or run is another log.
	for _, k := range []logstore.Key{logKey("build/α"), logstore.RunKey(42, "build/α step", 2), logstore.RunKey(43, "build/α step", 1)} {
		if _, err := rs.Read(k, 1, 10); !errors.Is(err, logstore.ErrNotFound) {
			t.Errorf("Read(%s) err = %v, want ErrNotFound", k, err)
		}
		if _, err := rs.Stat(k); !errors.Is(err, logstore.ErrNotFound) {
			t.Errorf("Stat(%s) err = %v, want ErrNotFound", k, err)
		}
	}
}

func TestRangeReadsAcrossChunks(t *testing.T) {
	url := newDB(t)
	ws, rs := open(t, url, Options{FlushDelay: time.Millisecond}), open(t, url, Options{})
	w, err := ws.Create(logKey("s"))
	if err != nil {
		t.Fatal(err)
	}
	// A burst fills whole chunks of 1024 lines; then a trickle makes small
	// chunks, one per flush.
	write(t, w, 1, 3000)
	for n := int64(3001); n <= 3040; n++ {
		write(t, w, n, n)
		waitFor(t, "line flushed", func() bool { info, err := rs.Stat(logKey("s")); return err == nil && info.Lines == n })
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var chunks int
	if err := ws.pool.QueryRow(context.Background(), "SELECT count(*) FROM log_chunks").Scan(&chunks); err != nil {
		t.Fatal(err)
	}
	if chunks < 43 {
		t.Fatalf("%d chunks; want at least 2 full ones, the rest of the burst, 40 small ones and the end", chunks)
	}
	for _, c := range []struct {
		from     int64
		limit    int
		wantTo   int64
		wantNone bool
	}{
		{1, 10, 10, false},
		{1020, 10, 1029, false},   // across the first boundary
		{1024, 1026, 2049, false}, // a whole chunk and one line on each side
		{2990, 30, 3019, false},   // from a full chunk into the small ones
		{3005, 1000, 3040, false}, // many small chunks, more than one query's worth
		{1, 10000, 3040, false},   // everything
		{3040, 5, 3040, false},    // the last line
		{3041, 5, 0, true},        // past the end
		{100000, 5, 0, true},      // far past the end
		{3035, 2, 3036, false},    // inside a small chunk
		{1025, 1, 1025, false},    // a chunk's first line
		{2048, 1, 2048, false},    // a chunk's last line
		{2500, 600, 3040, false},  // 541 lines
	} {
		got, err := rs.Read(logKey("s"), c.from, c.limit)
		if err != nil {
			t.Fatalf("Read(%d, %d): %v", c.from, c.limit, err)
		}
		if c.wantNone {
			if len(got) != 0 {
				t.Errorf("Read(%d, %d) = %d lines, want none", c.from, c.limit, len(got))
			}
			continue
		}
		to := min(c.wantTo, c.from+int64(c.limit)-1)
		checkLines(t, got, c.from, to)
	}
}

func TestFollowLiveUntilTheLogEnds(t *testing.T) {
	url := newDB(t)
	// A poll of an hour: only the notifications can wake the follower.
	ws, rs := open(t, url, Options{}), listening(t, url, open(t, url, Options{Poll: time.Hour}))
	w, err := ws.Create(logKey("s"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, 1, 100)
	var mu sync.Mutex
	var got []logline.Line
	var seen atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- rs.Follow(context.Background(), logKey("s"), 50, func(l logline.Line) error {
			mu.Lock()
			l.Text = bytes.Clone(l.Text)
			got = append(got, l)
			mu.Unlock()
			seen.Store(l.N)
			return nil
		})
	}()
	waitFor(t, "the follower to see line 100", func() bool { return seen.Load() == 100 })
	for n := int64(101); n <= 3000; n += 100 {
		write(t, w, n, n+99)
		waitFor(t, fmt.Sprintf("the follower to see line %d", n+99), func() bool { return seen.Load() == n+99 })
	}
	select {
	case err := <-done:
		t.Fatalf("Follow returned %v before the log ended", err)
	default:
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a hang guard, sized for a loaded machine
		t.Fatal("Follow did not return after the log ended")
	}
	checkLines(t, got, 50, 3000)

	// Following an ended log from its middle returns its rest at once.
	var n int
	if err := rs.Follow(context.Background(), logKey("s"), 2990, func(logline.Line) error { n++; return nil }); err != nil || n != 11 {
		t.Fatalf("Follow of an ended log = %d lines, %v; want 11, nil", n, err)
	}
}

func TestFollowWaitsForALogToStart(t *testing.T) {
	url := newDB(t)
	ws, rs := open(t, url, Options{}), listening(t, url, open(t, url, Options{Poll: time.Hour}))
	var got []int64
	done := make(chan error, 1)
	go func() {
		done <- rs.Follow(context.Background(), logKey("later"), 1, func(l logline.Line) error { got = append(got, l.N); return nil })
	}()
	waitFor(t, "the follower to watch", func() bool {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return len(rs.watchers[42]) == 1
	})
	w, err := ws.Create(logKey("later"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, 1, 3)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || len(got) != 3 {
			t.Fatalf("Follow = %v, %v; want 3 lines", got, err)
		}
	case <-time.After(time.Minute): // a hang guard, sized for a loaded machine
		t.Fatal("Follow did not see the log start and end")
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- rs.Follow(ctx, logKey("never"), 1, func(logline.Line) error { return nil }) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Follow = %v", err)
	}
}

// TestOutageLosesNoLine: the writer's connections are killed again and
// again while lines keep coming; every line still arrives, once, in order.
func TestOutageLosesNoLine(t *testing.T) {
	url := newDB(t)
	ws := open(t, url, Options{FlushDelay: time.Millisecond})
	admin, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	kill := func() int {
		var n int
		err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, AppName).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	w, err := ws.Create(logKey("s"))
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for n := int64(1); n <= 20000; n += 500 {
		write(t, w, n, n+499)
		killed += kill()
		if n%2000 == 1 {
			// Now and then, let the writer reconnect and catch up before
			// the next kill, so kills also hit fresh connections mid-insert.
			waitFor(t, fmt.Sprintf("line %d shipped", n+499), func() bool {
				var last int64
				err := admin.QueryRow(context.Background(), "SELECT coalesce(max(first_line + lines - 1), 0) FROM log_chunks").Scan(&last)
				return err == nil && last >= n+499
			})
		}
	}
	if killed == 0 {
		t.Fatal("no connection of the writer was killed: the test tests nothing")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rs := open(t, url, Options{})
	got, err := rs.Read(logKey("s"), 1, 30000)
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, got, 1, 20000)
	t.Logf("killed %d connections", killed)
}

// TestBudgetDropsAndSaysSo: with Postgres unreachable and the buffer full,
// lines are dropped, the log says which, and the numbering goes on.
func TestBudgetDropsAndSaysSo(t *testing.T) {
	url := newDB(t)
	p := startProxy(t, url)
	ws := open(t, p.url, Options{Budget: 64 << 10, FlushDelay: time.Millisecond, CloseWait: time.Minute})
	w, err := ws.Create(logKey("s"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, 1, 10)
	rs := open(t, url, Options{})
	waitFor(t, "lines 1-10 shipped", func() bool { info, err := rs.Stat(logKey("s")); return err == nil && info.Lines == 10 })
	p.down()
	// ~110 bytes a line: the 64 KiB budget holds some 600 lines.
	write(t, w, 11, 3000)
	p.up()
	waitFor(t, "the buffer to drain", func() bool { return ws.held.Load() == 0 })
	write(t, w, 3001, 3010)
	err = w.Close()
	if err == nil || !strings.Contains(err.Error(), "dropped") {
		t.Fatalf("Close = %v; want it to say lines were dropped", err)
	}
	got, err := rs.Read(logKey("s"), 1, 10000)
	if err != nil {
		t.Fatal(err)
	}
	// Lines 1..k-1 kept, a note at k, then lines from 3001 on.
	var k int
	for k < len(got) && got[k].N == int64(k+1) && bytes.Equal(got[k].Text, testLine(int64(k+1)).Text) {
		k++
	}
	if k < 100 || k >= 3000 || k+1+10 != len(got) {
		t.Fatalf("kept %d lines then %d more; want a few hundred, the note and lines 3001-3010", k, len(got)-k)
	}
	note := got[k]
	if note.N != int64(k+1) || note.Stream != logline.Stderr || !strings.Contains(string(note.Text), fmt.Sprintf("(%d to 3000) were dropped", k+1)) {
		t.Fatalf("note = %d %v %q", note.N, note.Stream, note.Text)
	}
	checkLines(t, got[k+1:], 3001, 3010)
	if info, err := rs.Stat(logKey("s")); err != nil || info.Lines != 3010 || !info.Complete {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}

// TestRetryAfterAnUnknownOutcome: a chunk insert commits but its answer is
// lost; the retry must neither fail nor store the lines twice.
func TestRetryAfterAnUnknownOutcome(t *testing.T) {
	url := newDB(t)
	p := startProxy(t, url)
	ws := open(t, p.url, Options{FlushDelay: time.Millisecond})
	rs := open(t, url, Options{})
	w, err := ws.Create(logKey("s"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, 1, 10)
	waitFor(t, "lines 1-10 shipped", func() bool { info, err := rs.Stat(logKey("s")); return err == nil && info.Lines == 10 })
	p.cutReplies.Store(true)
	write(t, w, 11, 20)
	waitFor(t, "lines 11-20 committed", func() bool { info, err := rs.Stat(logKey("s")); return err == nil && info.Lines == 20 })
	p.cutReplies.Store(false)
	write(t, w, 21, 30)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := rs.Read(logKey("s"), 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, got, 1, 30)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// proxy forwards TCP to Postgres and can cut every connection and refuse
// new ones, as a network outage would.
type proxy struct {
	url    string
	ln     net.Listener
	target string
	mu     sync.Mutex
	isDown bool
	// cutReplies: Postgres's answers are not passed on; the connection
	// closes instead, so a commit's outcome is unknown to the client.
	cutReplies atomic.Bool
	conns      map[net.Conn]struct{}
}

func startProxy(t *testing.T, dbURL string) *proxy {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: fmt.Sprintf("%s:%d", cfg.Host, cfg.Port), conns: map[net.Conn]struct{}{}}
	p.url = strings.Replace(dbURL, p.target, ln.Addr().String(), 1)
	if p.url == dbURL {
		t.Fatalf("cannot route %s through a proxy", testdb.Redact(dbURL))
	}
	t.Cleanup(func() { ln.Close(); p.down() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.isDown {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go p.pipe(c, up, true)
			go p.pipe(up, c, false)
		}
	}()
	return p
}

func (p *proxy) pipe(dst, src net.Conn, reply bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if reply && p.cutReplies.Load() {
			break
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = false
}

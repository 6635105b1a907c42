package logstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

// failAfter bounds a wait on a real condition so a broken build fails
// instead of hanging; it is never what makes a test pass.
const failAfter = 30 * time.Second

func TestFollowFromStartMiddleAndEndWhileWriting(t *testing.T) {
	s := openStore(t, t.TempDir())
	k := Key{Run: "r", Step: "s", Attempt: 1}
	const n = 6000
	w, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		from  int64
		lines []logline.Line
		err   error
	}
	results := make(chan result)
	follow := func(from int64) {
		go func() {
			lines, err := collect(context.Background(), s, k, from)
			results <- result{from, lines, err}
		}()
	}
	// Followers that start before any line, at the middle, at the end and
	// past it; half start before the writing, half halfway through it.
	froms := []int64{1, n / 2, n, n + 1, n + 500}
	for _, f := range froms {
		follow(f)
	}
	for i := int64(1); i <= n; i++ {
		if i == n/2 {
			for _, f := range froms {
				follow(f)
			}
		}
		if err := w.WriteLine(mkLine(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 * len(froms) {
		r := <-results
		if r.err != nil {
			t.Fatalf("Follow from %d: %v", r.from, r.err)
		}
		checkRange(t, r.lines, r.from, n)
	}
	// And after the log is finished, from the same three places.
	for _, f := range froms {
		lines, err := collect(context.Background(), s, k, f)
		if err != nil {
			t.Fatal(err)
		}
		checkRange(t, lines, f, n)
	}
}

// TestFollowSeesLinesOfAnIdleWriter: a line must reach followers even when
// no further line (and no Close) pushes it out of the writer's buffer.
func TestFollowSeesLinesOfAnIdleWriter(t *testing.T) {
	s := openStore(t, t.TempDir())
	k := Key{Run: "r", Step: "s", Attempt: 1}
	w, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan logline.Line)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(context.Background(), k, 1, func(l logline.Line) error {
			l.Text = bytes.Clone(l.Text)
			got <- l
			return nil
		})
	}()
	for i := int64(1); i <= 3; i++ {
		if err := w.WriteLine(mkLine(i)); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-got:
			sameLine(t, l, mkLine(i))
		case <-time.After(failAfter):
			t.Fatalf("line %d never reached the follower while the writer was idle", i)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Follow after Close: %v, want nil", err)
	}
}

func TestFollowWaitsForCreate(t *testing.T) {
	s := openStore(t, t.TempDir())
	k := Key{Run: "r", Step: "later", Attempt: 1}

	// Without a Create, Follow waits until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Follow(ctx, k, 1, func(logline.Line) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Follow of a missing log: %v, want it to wait for the context", err)
	}

	type res struct {
		lines []logline.Line
		err   error
	}
	out := make(chan res)
	go func() {
		lines, err := collect(context.Background(), s, k, 1)
		out <- res{lines, err}
	}()
	// Other logs being created must not confuse the waiter.
	writeLog(t, s, Key{Run: "r", Step: "other", Attempt: 1}, 5, true)
	writeLog(t, s, k, 2000, true)
	r := <-out
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkRange(t, r.lines, 1, 2000)
}

func TestFollowEndsOnContextAndOnCallbackError(t *testing.T) {
	s := openStore(t, t.TempDir())
	k := Key{Run: "r", Step: "s", Attempt: 1}
	w := writeLog(t, s, k, 10, false)
	defer w.Close()

	boom := errors.New("client went away")
	var seen int64
	err := s.Follow(context.Background(), k, 1, func(l logline.Line) error {
		if seen = l.N; l.N == 4 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || seen != 4 {
		t.Fatalf("Follow = %v after line %d, want fn's error at line 4", err, seen)
	}

	ctx, cancel := context.WithCancel(context.Background())
	err = s.Follow(ctx, k, 1, func(l logline.Line) error {
		if l.N == 10 {
			cancel() // the live log is idle from here on
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow of an idle live log after cancel: %v, want context.Canceled", err)
	}
}

func TestFiftyFollowersEachGetEveryLine(t *testing.T) {
	s := openStore(t, t.TempDir())
	k := Key{Run: "r", Step: "s", Attempt: 1}
	const followers, n = 50, 20_000
	w, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, followers)
	for i := range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := int64(1)
			err := s.Follow(context.Background(), k, 1, func(l logline.Line) error {
				want := mkLine(next)
				if l.N != next || l.Stream != want.Stream || !bytes.Equal(l.Text, want.Text) {
					return fmt.Errorf("follower %d: got line %d (%q), want line %d", i, l.N, trunc(l.Text), next)
				}
				next++
				return nil
			})
			if err == nil && next != n+1 {
				err = fmt.Errorf("follower %d ended after line %d, want %d", i, next-1, n)
			}
			errs <- err
		}()
	}
	for i := int64(1); i <= n; i++ {
		if err := w.WriteLine(mkLine(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestFollowMemoryIsBounded: following a 24 MB log allocates a small,
// fixed amount, not the log.
func TestFollowMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 24 MB log")
	}
	s := openStore(t, t.TempDir())
	k := Key{Run: "r", Step: "big", Attempt: 1}
	const n = 300_000
	w, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	text := bytes.Repeat([]byte("0123456789"), 8)
	for i := int64(1); i <= n; i++ {
		if err := w.WriteLine(logline.Line{N: i, Stream: logline.Stdout, Time: t0, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var count int64
	err = s.Follow(context.Background(), k, 1, func(l logline.Line) error {
		count++
		return nil
	})
	runtime.ReadMemStats(&after)
	if err != nil || count != n {
		t.Fatalf("followed %d lines (%v), want %d", count, err, n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("following %d lines allocated %d bytes; want under 1 MiB, independent of the log's size", n, alloc)
	}
}

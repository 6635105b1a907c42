package pglogs

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
)

// The workload of docs/adr/0003-log-store.md: 200,000 lines of 80 bytes.
const benchLines = 200_000

var benchText = bytes.Repeat([]byte("abcdefghij"), 8)

// benchTexts are 80-byte lines that compress like real output (a counter,
// words, some noise), not like one repeated string.
var benchTexts = func() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"building", "target", "ok", "PASS", "warning:", "src/main.go:", "compiling", "test", "--", "in", "0.12s"}
	out := make([][]byte, 4096)
	for i := range out {
		b := fmt.Appendf(nil, "%06d ", i*37)
		for len(b) < 80 {
			if r.IntN(3) == 0 {
				b = append(b, byte('a'+r.IntN(26)), byte('0'+r.IntN(10)))
			} else {
				b = append(b, words[r.IntN(len(words))]...)
			}
			b = append(b, ' ')
		}
		out[i] = b[:80]
	}
	return out
}()

// BenchmarkShip200k: a step prints 200,000 lines as fast as it can; one op
// is the burst shipped and its log ended (Close returned). wl-ns/line is
// what the step's output path pays per line (WriteLine only).
func BenchmarkShip200k(b *testing.B) {
	// lz4 where the server has it (the migration's choice), and the
	// default pglz for comparison.
	for _, comp := range []string{"lz4", "pglz"} {
		b.Run(comp, func(b *testing.B) { benchShip(b, comp) })
	}
}

func benchShip(b *testing.B, compression string) {
	url := newDB(b)
	s := open(b, url, Options{})
	if _, err := s.pool.Exec(context.Background(), "ALTER TABLE log_chunks ALTER COLUMN data SET COMPRESSION "+compression); err != nil {
		b.Skip(err)
	}
	var inWrite time.Duration
	for i := 0; b.Loop(); i++ {
		w, err := s.Create(logstore.RunKey(1, "bench", i+1))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		now := time.Now()
		for n := int64(1); n <= benchLines; n++ {
			if err := w.WriteLine(logline.Line{N: n, Stream: logline.Stream(1 + n%2), Time: now, Text: benchTexts[n%4096]}); err != nil {
				b.Fatal(err)
			}
		}
		inWrite += time.Since(start)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var chunks, stored, table int64
	err := s.pool.QueryRow(context.Background(), `SELECT count(*), sum(pg_column_size(data)), pg_total_relation_size('log_chunks')
		FROM log_chunks`).Scan(&chunks, &stored, &table)
	if err != nil {
		b.Fatal(err)
	}
	runs := int64(b.N)
	b.ReportMetric(float64(inWrite.Nanoseconds())/float64(runs*benchLines), "wl-ns/line")
	b.ReportMetric(float64(chunks)/float64(runs), "chunks/op")
	b.ReportMetric(float64(stored)/float64(runs)/(1<<20), "stored-MiB/op")
	b.ReportMetric(float64(table)/float64(runs)/(1<<20), "table-MiB/op")
	b.SetBytes(benchLines * int64(len(benchText)))
}

// BenchmarkFollowLag: lag from WriteLine in one process (pool) to a
// follower on another pool seeing the line, for a step printing one line
// every gap. Run with -benchtime=1x; an op is 1,000 lines or 5s of them.
func BenchmarkFollowLag(b *testing.B) {
	for _, gap := range []time.Duration{time.Millisecond, 20 * time.Millisecond, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("every-%v", gap), func(b *testing.B) {
			lines := min(1000, int64(5*time.Second/gap))
			url := newDB(b)
			ws, rs := open(b, url, Options{}), open(b, url, Options{})
			var lags []time.Duration
			for i := 0; b.Loop(); i++ {
				k := logstore.RunKey(1, "lag", i+1)
				w, err := ws.Create(k)
				if err != nil {
					b.Fatal(err)
				}
				var mu sync.Mutex
				done := make(chan error, 1)
				go func() {
					done <- rs.Follow(context.Background(), k, 1, func(l logline.Line) error {
						mu.Lock()
						lags = append(lags, time.Since(l.Time))
						mu.Unlock()
						return nil
					})
				}()
				for n := int64(1); n <= lines; n++ {
					if err := w.WriteLine(logline.Line{N: n, Stream: logline.Stdout, Time: time.Now(), Text: benchText}); err != nil {
						b.Fatal(err)
					}
					time.Sleep(gap) // the pace of the step's output, not a wait for a condition
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(lags)
			q := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
}

// BenchmarkReadMiddle: 100 lines from the middle of a 200,000-line log,
// read by another pool (ADR 0003's range read).
func BenchmarkReadMiddle(b *testing.B) {
	url := newDB(b)
	ws, rs := open(b, url, Options{}), open(b, url, Options{})
	k := logstore.RunKey(1, "big", 1)
	w, err := ws.Create(k)
	if err != nil {
		b.Fatal(err)
	}
	for n := int64(1); n <= benchLines; n++ {
		if err := w.WriteLine(logline.Line{N: n, Stream: logline.Stdout, Time: time.Now(), Text: benchTexts[n%4096]}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ls, err := rs.Read(k, benchLines/2, 100)
		if err != nil || len(ls) != 100 || ls[0].N != benchLines/2 {
			b.Fatalf("Read = %d lines, %v", len(ls), err)
		}
	}
}

package logstore

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"

	"github.com/runbookhq/runbook/internal/logline"
)

// The workload of the ADR: 200,000 lines of 80 bytes appended, and a
// 100-line read from the middle of a 1,000,000-line log.
const (
	benchAppendLines = 200_000
	benchBigLines    = 1_000_000
	benchReadFrom    = benchBigLines / 2
	benchReadLimit   = 100
)

var benchText = bytes.Repeat([]byte("abcdefghij"), 8)

func benchLine(n int64) logline.Line {
	return logline.Line{N: n, Stream: logline.Stream(1 + n%2), Time: t0, Text: benchText}
}

// benchDirs are made once per process (building a 1M-line log is slow) and
// removed by TestMain.
var benchDirs struct {
	sync.Mutex
	list []string
}

func benchTempDir(tb testing.TB) string {
	dir, err := os.MkdirTemp("", "logstore-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	benchDirs.Lock()
	benchDirs.list = append(benchDirs.list, dir)
	benchDirs.Unlock()
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range benchDirs.list {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// TestBurstIsWrittenInBigWrites: the executor's 200,000-line burst costs a
// few hundred write calls and no allocation per line.
func TestBurstIsWrittenInBigWrites(t *testing.T) {
	s := openStore(t, t.TempDir())
	w, err := s.Create(Key{Run: "r", Step: "s", Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	n := int64(0)
	allocs := testing.AllocsPerRun(benchAppendLines, func() {
		n++
		if err := w.WriteLine(benchLine(n)); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteLine allocates %.2f times per line, want 0", allocs)
	}
	w.mu.Lock()
	flushes := w.flushes
	w.mu.Unlock()
	if perLine := (benchAppendLines * 94) / flushAt; flushes > 2*perLine+10 {
		t.Errorf("%d lines took %d writes, want about %d", n, flushes, perLine)
	}
}

func BenchmarkWrite(b *testing.B) {
	s := openStore(b, b.TempDir())
	w, err := s.Create(Key{Run: "r", Step: "s", Attempt: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchText)))
	n := int64(0)
	for b.Loop() {
		n++
		if err := w.WriteLine(benchLine(n)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	w.mu.Lock()
	b.ReportMetric(float64(w.flushes)/float64(n), "writes/line")
	w.mu.Unlock()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreateClose: the per-step cost of a log with one line, which a
// chain of 50 short steps pays 50 times.
func BenchmarkCreateClose(b *testing.B) {
	s := openStore(b, b.TempDir())
	b.ReportAllocs()
	attempt := 0
	for b.Loop() {
		attempt++
		w, err := s.Create(Key{Run: "r", Step: "s", Attempt: attempt})
		if err != nil {
			b.Fatal(err)
		}
		if err := w.WriteLine(benchLine(1)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend200k/files: one op is a whole step's log of 200,000 lines.
func benchAppendFiles(b *testing.B) {
	s := openStore(b, b.TempDir())
	b.ReportAllocs()
	b.SetBytes(benchAppendLines * int64(len(benchText)))
	attempt := 0
	for b.Loop() {
		attempt++
		w, err := s.Create(Key{Run: "r", Step: "s", Attempt: attempt})
		if err != nil {
			b.Fatal(err)
		}
		for n := int64(1); n <= benchAppendLines; n++ {
			if err := w.WriteLine(benchLine(n)); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

var bigFiles struct {
	once sync.Once
	s    *Store
	k    Key
}

func bigFileLog(b *testing.B) (*Store, Key) {
	bigFiles.once.Do(func() {
		s, err := Open(benchTempDir(b))
		if err != nil {
			b.Fatal(err)
		}
		k := Key{Run: "r", Step: "big", Attempt: 1}
		w, err := s.Create(k)
		if err != nil {
			b.Fatal(err)
		}
		for n := int64(1); n <= benchBigLines; n++ {
			if err := w.WriteLine(benchLine(n)); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		bigFiles.s, bigFiles.k = s, k
	})
	if bigFiles.s == nil {
		b.Fatal("building the 1M-line log failed earlier")
	}
	return bigFiles.s, bigFiles.k
}

func benchReadMiddleFiles(b *testing.B) {
	s, k := bigFileLog(b)
	b.ReportAllocs()
	for b.Loop() {
		lines, err := s.Read(k, benchReadFrom, benchReadLimit)
		if err != nil || len(lines) != benchReadLimit || lines[0].N != benchReadFrom {
			b.Fatalf("Read = %d lines, %v", len(lines), err)
		}
	}
}

// BenchmarkFollowBigLog: memory per follow of a finished 1M-line log (see B/op).
func BenchmarkFollowBigLog(b *testing.B) {
	s, k := bigFileLog(b)
	b.ReportAllocs()
	for b.Loop() {
		var count int
		err := s.Follow(context.Background(), k, 1, func(logline.Line) error { count++; return nil })
		if err != nil || count != benchBigLines {
			b.Fatalf("followed %d lines: %v", count, err)
		}
	}
}

// BenchmarkFollowLatency: one op is a line written to an idle writer until a
// follower has it: the cost of waiting for the flush timer.
func BenchmarkFollowLatency(b *testing.B) {
	s := openStore(b, b.TempDir())
	k := Key{Run: "r", Step: "s", Attempt: 1}
	w, err := s.Create(k)
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan int64)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(context.Background(), k, 1, func(l logline.Line) error { got <- l.N; return nil })
	}()
	n := int64(0)
	for b.Loop() {
		n++
		if err := w.WriteLine(benchLine(n)); err != nil {
			b.Fatal(err)
		}
		if m := <-got; m != n {
			b.Fatalf("follower got line %d, want %d", m, n)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

package logstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// mkLine is the deterministic content of line n: both streams, empty lines,
// invalid UTF-8 and the occasional long line.
func mkLine(n int64) logline.Line {
	l := logline.Line{N: n, Stream: logline.Stdout, Time: t0.Add(time.Duration(n) * time.Microsecond)}
	if n%3 == 0 {
		l.Stream = logline.Stderr
	}
	switch {
	case n%1000 == 7:
		l.Text = bytes.Repeat([]byte{'x', 0xff}, 40_000) // 80 KB, bigger than the reader's buffer
	case n%10 == 5:
		l.Text = nil
	case n%10 == 6:
		l.Text = []byte(fmt.Sprintf("bad utf-8 \xc3\x28 \xff\xfe %d\r", n))
	default:
		l.Text = []byte(fmt.Sprintf("line %d of the log: %s", n, "ü 🚀"))
	}
	return l
}

func sameLine(t *testing.T, got logline.Line, want logline.Line) {
	t.Helper()
	if got.N != want.N || got.Stream != want.Stream || !got.Time.Equal(want.Time) || !bytes.Equal(got.Text, want.Text) {
		t.Fatalf("line %d: got {N:%d %v %v %q}, want {N:%d %v %v %q}", want.N,
			got.N, got.Stream, got.Time, trunc(got.Text), want.N, want.Stream, want.Time, trunc(want.Text))
	}
}

func trunc(b []byte) []byte {
	if len(b) > 60 {
		return b[:60]
	}
	return b
}

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeLog creates k and writes lines 1..n with mkLine; it closes the log
// when close is set.
func writeLog(t testing.TB, s *Store, k Key, n int64, close bool) *Writer {
	t.Helper()
	w, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= n; i++ {
		if err := w.WriteLine(mkLine(i)); err != nil {
			t.Fatal(err)
		}
	}
	if close {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// checkRange asserts that got is exactly lines from..to of mkLine.
func checkRange(t *testing.T, got []logline.Line, from, to int64) {
	t.Helper()
	if want := max(0, to-from+1); int64(len(got)) != want {
		t.Fatalf("got %d lines, want %d (lines %d..%d)", len(got), want, from, to)
	}
	for i, l := range got {
		sameLine(t, l, mkLine(from+int64(i)))
	}
}

// collect follows k from `from` and returns the lines, copied.
func collect(ctx context.Context, s *Store, k Key, from int64) ([]logline.Line, error) {
	var out []logline.Line
	err := s.Follow(ctx, k, from, func(l logline.Line) error {
		l.Text = bytes.Clone(l.Text)
		out = append(out, l)
		return nil
	})
	return out, err
}

package logstore

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/runbookhq/runbook/internal/logline"
)

// logFiles returns k's data and index paths in s.
func logFiles(s *Store, k Key) (string, string) {
	_, data, index := s.paths(k)
	return data, index
}

// recordSize is the on-disk size of line n.
func recordSize(n int64) int64 {
	l := mkLine(n)
	return int64(len(appendRecord(nil, byte(l.Stream), uint64(l.Time.UnixNano()), l.Text)))
}

func TestTornTailIsIgnoredOnReopen(t *testing.T) {
	const n = 2007 // past a chunk boundary, and its last line is an 80 KB one (see mkLine)
	trailer := int64(len(appendRecord(nil, streamTrailer, n, nil)))
	last := recordSize(n)
	cases := []struct {
		name      string
		damage    func(t *testing.T, data, index string)
		wantLines int64
		complete  bool
	}{
		{"intact", func(*testing.T, string, string) {}, n, true},
		{"trailer cut", cutBy(1), n, false},
		{"trailer gone", cutBy(trailer), n, false},
		{"last record cut by 1 byte", cutBy(trailer + 1), n - 1, false},
		{"last record half gone", cutBy(trailer + last/2), n - 1, false},
		{"last record cut after its first byte", cutBy(trailer + last - 1), n - 1, false},
		{"zeros after a cut record", func(t *testing.T, data, index string) {
			cutBy(trailer+last-3)(t, data, index)
			appendBytes(t, data, make([]byte, 4096))
		}, n - 1, false},
		{"garbage after the trailer", func(t *testing.T, data, index string) { appendBytes(t, data, []byte{1, 2, 3}) }, n, true},
		{"index torn mid-entry", func(t *testing.T, data, index string) {
			fi, _ := os.Stat(index)
			if err := os.Truncate(index, fi.Size()-3); err != nil {
				t.Fatal(err)
			}
		}, n, true},
		{"index missing", func(t *testing.T, data, index string) { os.Remove(index) }, n, true},
		{"index ahead of the data", func(t *testing.T, data, index string) {
			// Keep only line 1: every index entry but the first points past the data.
			if err := os.Truncate(data, headerEnd()+recordSize(1)); err != nil {
				t.Fatal(err)
			}
		}, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			k := Key{Run: "r", Step: "s", Attempt: 1}
			writeLog(t, s, k, n, true)
			data, index := logFiles(s, k)
			s.Close()
			c.damage(t, data, index)

			s2 := openStore(t, dir)
			info, err := s2.Stat(k)
			if err != nil || info != (Info{Lines: c.wantLines, Complete: c.complete}) {
				t.Fatalf("Stat = %+v, %v; want %d lines, complete=%v", info, err, c.wantLines, c.complete)
			}
			got, err := s2.Read(k, 1, 2*n)
			if err != nil {
				t.Fatal(err)
			}
			checkRange(t, got, 1, c.wantLines)
			got, err = s2.Read(k, c.wantLines-1, 10) // through the index, near the tail
			if err != nil {
				t.Fatal(err)
			}
			checkRange(t, got, max(1, c.wantLines-1), c.wantLines)
			// A follower of a log nobody can append to any more finishes.
			got, err = collect(context.Background(), s2, k, 1)
			if err != nil {
				t.Fatal(err)
			}
			checkRange(t, got, 1, c.wantLines)
			if _, err := s2.Create(k); !errors.Is(err, ErrExists) {
				t.Fatalf("Create over a damaged log: %v, want ErrExists (the log is kept)", err)
			}
		})
	}
}

// TestCrashWithoutClose: the process dies with the writer open; what was
// flushed is readable, and followers finish instead of waiting forever.
func TestCrashWithoutClose(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	k := Key{Run: "r", Step: "s", Attempt: 1}
	const n = 2500
	w := writeLog(t, s, k, n, false)
	t.Cleanup(func() { w.Close() })
	// Wait until the timer has flushed every line: the follower sees line n.
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	err := s.Follow(ctx, k, n, func(logline.Line) error { return errSeen })
	if !errors.Is(err, errSeen) {
		t.Fatalf("waiting for line %d: %v", n, err)
	}
	s.Close() // the "crash": the directory is released with the writer still open

	s2 := openStore(t, dir)
	info, err := s2.Stat(k)
	if err != nil || info != (Info{Lines: n}) {
		t.Fatalf("Stat = %+v, %v; want %d lines, not complete", info, err, n)
	}
	got, err := collect(context.Background(), s2, k, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, got, 1, n)
}

var errSeen = errors.New("seen")

func cutBy(n int64) func(t *testing.T, data, index string) {
	return func(t *testing.T, data, index string) {
		fi, err := os.Stat(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(data, fi.Size()-n); err != nil {
			t.Fatal(err)
		}
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func headerEnd() int64 {
	return int64(len(encodeHeader(Key{Run: "r", Step: "s", Attempt: 1})))
}

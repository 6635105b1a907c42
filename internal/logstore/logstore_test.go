package logstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/runbookhq/runbook/internal/logline"
)

func TestRoundTripSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	k := Key{Run: "r1", Step: "build", Attempt: 1}
	writeLog(t, s, k, 3000, true)
	got, err := s.Read(k, 1, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, got, 1, 3000)
	if info, err := s.Stat(k); err != nil || info != (Info{Lines: 3000, Complete: true}) {
		t.Fatalf("Stat = %+v, %v; want 3000 complete lines", info, err)
	}

	s.Close()
	s2 := openStore(t, dir)
	got, err = s2.Read(k, 1, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, got, 1, 3000)
	if _, err := s2.Create(k); !errors.Is(err, ErrExists) {
		t.Fatalf("Create of an existing log after reopen: err = %v, want ErrExists", err)
	}
}

func TestReadRangesAcrossChunkBoundaries(t *testing.T) {
	s := openStore(t, t.TempDir())
	k := Key{Run: "r", Step: "s", Attempt: 1}
	const n = 5*chunkLines + 10
	writeLog(t, s, k, n, true)
	for _, c := range []struct {
		from     int64
		limit    int
		wantFrom int64
		wantTo   int64
	}{
		{1, 1, 1, 1},
		{chunkLines - 1, 3, chunkLines - 1, chunkLines + 1},
		{chunkLines, 1, chunkLines, chunkLines},
		{chunkLines + 1, 1, chunkLines + 1, chunkLines + 1},
		{2*chunkLines + 1, chunkLines, 2*chunkLines + 1, 3 * chunkLines},
		{3*chunkLines - 50, 100, 3*chunkLines - 50, 3*chunkLines + 49},
		{n - 5, 100, n - 5, n},    // runs past the end: what exists
		{n, 1, n, n},              // the last line
		{n + 1, 100, n + 1, n},    // just past the end: none
		{n + 10_000, 5, n + 1, n}, // far past the end: none
		{0, 2, 1, 2},              // from < 1 starts at line 1
		{500, 0, 500, 499},        // limit 0: none
	} {
		t.Run(fmt.Sprintf("from%d_limit%d", c.from, c.limit), func(t *testing.T) {
			got, err := s.Read(k, c.from, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			checkRange(t, got, c.wantFrom, c.wantTo)
		})
	}
}

func TestReadMissingKey(t *testing.T) {
	s := openStore(t, t.TempDir())
	writeLog(t, s, Key{Run: "r", Step: "s", Attempt: 1}, 3, true)
	for _, k := range []Key{{Run: "r", Step: "s", Attempt: 2}, {Run: "r", Step: "t", Attempt: 1}, {Run: "x", Step: "s", Attempt: 1}} {
		if _, err := s.Read(k, 1, 10); !errors.Is(err, ErrNotFound) {
			t.Errorf("Read(%v): err = %v, want ErrNotFound", k, err)
		}
		if _, err := s.Stat(k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(%v): err = %v, want ErrNotFound", k, err)
		}
	}
}

func TestWriteLineRejectsBadInput(t *testing.T) {
	s := openStore(t, t.TempDir())
	k := Key{Run: "r", Step: "s", Attempt: 1}
	w := writeLog(t, s, k, 2, false)
	for _, l := range []logline.Line{
		{N: 2, Stream: logline.Stdout}, // repeated
		{N: 5, Stream: logline.Stdout}, // gap
		{N: 3, Stream: 0},              // no stream
		{N: 3, Stream: 0xFF},           // the trailer's marker
		{N: 3, Stream: logline.Stdout, Text: make([]byte, MaxLineBytes+1)}, // too long
	} {
		if err := w.WriteLine(l); err == nil {
			t.Errorf("WriteLine(N=%d stream=%d len=%d) succeeded, want an error", l.N, l.Stream, len(l.Text))
		}
	}
	if err := w.WriteLine(mkLine(3)); err != nil {
		t.Fatalf("a valid line after rejected ones: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
	if err := w.WriteLine(mkLine(4)); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteLine after Close: %v, want ErrClosed", err)
	}
	got, err := s.Read(k, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, got, 1, 3)
}

func TestWeirdStepNamesStayInsideTheDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "store")
	s := openStore(t, dir)
	names := []string{
		"../../../../tmp/escape", "..", ".", "", "/", "/etc/passwd", `..\..\windows`, "a/b/c",
		"with space", "ünïcødé 🚀", "nul\x00byte", "new\nline", strings.Repeat("long", 2500), "LOCK", "runs",
	}
	var keys []Key
	for i, name := range names {
		// The same name as run and as step, and two attempts, must not collide.
		keys = append(keys, Key{Run: name, Step: name, Attempt: 1}, Key{Run: "run", Step: name, Attempt: 1},
			Key{Run: "run", Step: name, Attempt: 2}, Key{Run: name, Step: fmt.Sprint(i), Attempt: -1})
	}
	for _, k := range keys {
		w, err := s.Create(k)
		if err != nil {
			t.Fatalf("Create(%v): %v", k, err)
		}
		if err := w.WriteLine(logline.Line{N: 1, Stream: logline.Stdout, Time: t0, Text: []byte(k.String())}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		got, err := s.Read(k, 1, 10)
		if err != nil {
			t.Fatalf("Read(%v): %v", k, err)
		}
		if len(got) != 1 || string(got[0].Text) != k.String() {
			t.Fatalf("Read(%v) = %d lines, want its own single line", k, len(got))
		}
	}
	// Nothing was written beside the store's directory...
	entries, err := os.ReadDir(parent)
	if err != nil || len(entries) != 1 || entries[0].Name() != "store" {
		t.Fatalf("the parent directory holds %v (%v), want only store/", entries, err)
	}
	// ...and inside it, every log file is where the layout puts it.
	var files int
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "LOCK" && !strings.HasPrefix(rel, "runs"+string(filepath.Separator)) {
			t.Errorf("unexpected file %s", rel)
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(keys); files != want {
		t.Fatalf("%d files in the store, want %d (a lock and one per one-line log)", files, want)
	}
}

func TestConcurrentWritersToDifferentKeys(t *testing.T) {
	s := openStore(t, t.TempDir())
	const writers, n = 8, 4000
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Create(Key{Run: "r", Step: fmt.Sprint("step ", i), Attempt: 1})
			if err != nil {
				errs <- err
				return
			}
			for j := int64(1); j <= n; j++ {
				if err := w.WriteLine(mkLine(j)); err != nil {
					errs <- err
					return
				}
			}
			errs <- w.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range writers {
		got, err := s.Read(Key{Run: "r", Step: fmt.Sprint("step ", i), Attempt: 1}, 1, 2*n)
		if err != nil {
			t.Fatal(err)
		}
		checkRange(t, got, 1, n)
	}
}

func TestSecondOpenOfADirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if s2, err := Open(dir); err == nil {
		s2.Close()
		t.Fatal("a second Open of the same directory succeeded; two stores would both believe they own its logs")
	}
	s.Close()
	s3, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s3.Close()
}

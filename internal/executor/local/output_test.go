package local

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

func TestStreamsKeptApartAndNumbered(t *testing.T) {
	e := newExec(t, Options{})
	res, s := run(t, e, newSpec(t, "for i in 1 2 3; do echo out$i; echo err$i >&2; done"))
	checkResult(t, res, 0, false, false)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"out1", "out2", "out3"}) {
		t.Errorf("stdout = %q", got)
	}
	if got := s.texts(logline.Stderr); !slices.Equal(got, []string{"err1", "err2", "err3"}) {
		t.Errorf("stderr = %q", got)
	}
	// The two pipes race, so only the numbering is fixed: 1..6, no gaps.
	for i, l := range s.lines {
		if l.N != int64(i+1) {
			t.Fatalf("line %d has N = %d; lines: %+v", i+1, l.N, s.lines)
		}
	}
}

func TestLineEdges(t *testing.T) {
	e := newExec(t, Options{})
	const M = MaxLineBytes
	for _, tc := range []struct {
		name, cmd string
		want      []string
	}{
		{"final line without newline", `printf 'a\n\nb'`, []string{"a", "", "b"}},
		{"carriage return and invalid UTF-8 kept", `printf 'x\r\n\xff\xfe\xc3( ok\n'`, []string{"x\r", "\xff\xfe\xc3( ok"}},
		{"NUL bytes kept", `printf 'a\0b\n'`, []string{"a\x00b"}},
		{"long line split", `head -c 200000 /dev/zero | tr '\0' a; echo; echo next`,
			[]string{strings.Repeat("a", M), strings.Repeat("a", M), strings.Repeat("a", M), strings.Repeat("a", 200000-3*M), "next"}},
		{"line of exactly the limit", `head -c 65536 /dev/zero | tr '\0' b; printf '\n\nc\n'`,
			[]string{strings.Repeat("b", M), "", "c"}},
		{"long final line without newline", `head -c 70000 /dev/zero | tr '\0' d`,
			[]string{strings.Repeat("d", M), strings.Repeat("d", 70000-M)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, s := run(t, e, newSpec(t, tc.cmd))
			checkResult(t, res, 0, false, false)
			got := s.texts(logline.Stdout)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %d lines (lengths %v), want %d (lengths %v)", len(got), lens(got), len(tc.want), lens(tc.want))
			}
		})
	}
}

func TestFinalStderrLineWithoutNewline(t *testing.T) {
	e := newExec(t, Options{})
	res, s := run(t, e, newSpec(t, `printf 'fatal: no' >&2; exit 2`))
	checkResult(t, res, 2, false, false)
	if got := s.texts(logline.Stderr); !slices.Equal(got, []string{"fatal: no"}) {
		t.Errorf("stderr = %q", got)
	}
}

func lens(ss []string) []int {
	n := make([]int, len(ss))
	for i, s := range ss {
		n[i] = len(s)
	}
	return n
}

// failSink fails from its second line on.
type failSink struct{ n int }

func (f *failSink) WriteLine(logline.Line) error {
	if f.n++; f.n > 1 {
		return errors.New("disk full")
	}
	return nil
}

// A sink that fails must not block the step: its output is still drained
// (far more than a pipe buffer here), and Run reports the sink's error.
func TestSinkErrorDoesNotBlockStep(t *testing.T) {
	e := newExec(t, Options{})
	f := &failSink{}
	res := e.Run(context.Background(), newSpec(t, "seq 100000; echo done >&2"), f)
	if res.ExitCode != 0 || res.Err == nil || !strings.Contains(res.Err.Error(), "disk full") {
		t.Fatalf("Run = %+v, want exit 0 and the sink's error", res)
	}
	if f.n != 2 {
		t.Errorf("sink called %d times, want 2 (no calls after its error)", f.n)
	}
}

// slowSink stands for a log store that falls behind: every other line takes
// a millisecond.
type slowSink struct {
	memSink
	n int
}

func (s *slowSink) WriteLine(l logline.Line) error {
	if s.n++; s.n%2 == 0 {
		time.Sleep(time.Millisecond)
	}
	return s.memSink.WriteLine(l)
}

// The step exits with its last ~256 KiB still in the pipe; draining them
// through the slow sink takes longer than drainDelay. Output that still
// flows must never be cut (it once was, under load, mid-line).
func TestSlowSinkGetsEveryLineAfterTheStepExits(t *testing.T) {
	e := newExec(t, Options{})
	const lines = 5000 // 400 KB: more than the pipe holds
	sink := &slowSink{memSink: *newSink("")}
	res := e.Run(context.Background(), newSpec(t, fmt.Sprintf("seq -f '%%079g' 1 %d", lines)), sink)
	checkResult(t, res, 0, false, false)
	out := sink.texts(logline.Stdout)
	if len(out) != lines {
		t.Fatalf("got %d lines, want %d", len(out), lines)
	}
	for i, text := range out {
		if want := fmt.Sprintf("%079d", i+1); text != want {
			t.Fatalf("line %d = %q, want %q", i+1, text, want)
		}
	}
	if got := sink.texts(logline.Stderr); len(got) != 0 {
		t.Errorf("stderr %q: output was cut off", got)
	}
}

// The drain's idle clock starts when a reader enters read(2), not at the
// last byte it read. A reader that spent longer than drainDelay handing its
// last buffer to a slow sink and has just gone back for the EOF waiting in
// the pipe is not idle; timing from the last byte cut such drains under load.
func TestIdleCountsFromEntryIntoRead(t *testing.T) {
	o := newOutput(nil)
	now := time.Now()
	o.reading[1].Store(now.Add(-time.Hour).UnixNano()) // stderr: silent all along
	o.reading[0].Store(now.Add(-time.Millisecond).UnixNano())
	if got := o.idle(now); got != time.Millisecond {
		t.Errorf("stdout back in read(2) for 1ms: idle = %v, want 1ms", got)
	}
	o.reading[0].Store(0)
	if got := o.idle(now); got != 0 {
		t.Errorf("stdout handling lines: idle = %v, want 0", got)
	}
	o.ended[0].Store(true)
	if got := o.idle(now); got != time.Hour {
		t.Errorf("stdout at EOF, stderr in read(2) for 1h: idle = %v, want 1h", got)
	}
}

// TestLinesAreNumberedInReadOrder is issue 13 item 4.8: lines of stdout and
// stderr written microseconds apart came back in either order, because
// each reader numbered its lines as soon as it took the lock, and the later
// read's time then overwrote the earlier one. Now a reader holding lines
// read later waits while the other holds lines read earlier, so numbers
// follow read times, and each line keeps its own read time.
func TestLinesAreNumberedInReadOrder(t *testing.T) {
	s := newSink("")
	o := newOutput(s)
	t1 := time.Now()
	t2 := t1.Add(time.Microsecond)
	o.mu.Lock()
	o.setPending(0, t1) // stdout read two lines at t1, not numbered yet
	o.mu.Unlock()

	var started atomic.Bool
	done := make(chan struct{})
	go func() { // stderr read a line at t2 and tries to number it first
		defer close(done)
		o.mu.Lock()
		o.setPending(1, t2)
		o.mu.Unlock()
		started.Store(true)
		o.emitRead(1, []byte("err"), t2)
	}()
	for !started.Load() {
		runtime.Gosched()
	}
	runtime.Gosched()
	o.emitRead(0, []byte("out1"), t1)
	o.emitRead(0, []byte("out2"), t1)
	o.mu.Lock()
	o.setPending(0, time.Time{}) // stdout goes back to read(2)
	o.mu.Unlock()
	<-done

	want := []line{{1, logline.Stdout, "out1"}, {2, logline.Stdout, "out2"}, {3, logline.Stderr, "err"}}
	if !slices.Equal(s.lines, want) {
		t.Fatalf("lines %v, want %v", s.lines, want)
	}
}

package stepexec

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/executor/kubernetes/frame"
)

type record struct {
	kind byte
	text string
}

// decode checks that out is nothing but records numbered 1, 2, 3… and
// returns them.
func decode(t *testing.T, out []byte) []record {
	t.Helper()
	var recs []record
	for i, l := range strings.SplitAfter(string(out), "\n") {
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, "\n") {
			t.Fatalf("output ends with a partial record %q", l)
		}
		kind, seq, text, ok := frame.Parse([]byte(strings.TrimSuffix(l, "\n")))
		if !ok || seq != uint64(i+1) {
			t.Fatalf("line %d of the output is not record %d: %q", i+1, i+1, l)
		}
		recs = append(recs, record{kind, string(text)})
	}
	return recs
}

func run(t *testing.T, ctx context.Context, script string) (int, []record) {
	t.Helper()
	var out bytes.Buffer
	code := Run(ctx, script, &out)
	return code, decode(t, out.Bytes())
}

func TestStreamsStayApartAndTheExitCodeComesThrough(t *testing.T) {
	code, recs := run(t, context.Background(), `echo out1; echo err1 >&2; echo out2; printf 'no newline'; exit 3`)
	if code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	var out, errs []string
	for _, r := range recs[:len(recs)-1] {
		switch r.kind {
		case frame.Stdout:
			out = append(out, r.text)
		case frame.Stderr:
			errs = append(errs, r.text)
		default:
			t.Fatalf("record %c before the exit record", r.kind)
		}
	}
	if got := strings.Join(out, "|"); got != "out1|out2|no newline" {
		t.Errorf("stdout lines %q", got)
	}
	if got := strings.Join(errs, "|"); got != "err1" {
		t.Errorf("stderr lines %q", got)
	}
	if last := recs[len(recs)-1]; last != (record{frame.Exit, "3"}) {
		t.Errorf("last record %c %q, want the exit record with 3", last.kind, last.text)
	}
}

func TestPipefailAndErrexitAreOn(t *testing.T) {
	code, recs := run(t, context.Background(), "false | true\necho not reached")
	if code != 1 {
		t.Fatalf("exit code %d, want 1 (pipefail)", code)
	}
	if len(recs) != 1 || recs[0].kind != frame.Exit {
		t.Fatalf("records %v, want only the exit record", recs)
	}
}

func TestALongLineArrivesInPiecesWithNoByteLost(t *testing.T) {
	n := frame.MaxText + 1000
	code, recs := run(t, context.Background(), fmt.Sprintf(`head -c %d /dev/zero | tr '\0' a; echo; echo next`, n))
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if len(recs) != 4 || len(recs[0].text) != frame.MaxText || len(recs[1].text) != 1000 || recs[2].text != "next" {
		t.Fatalf("got %d records (first lengths %d), want pieces of %d and 1000, then next", len(recs), len(recs[0].text), frame.MaxText)
	}
}

func TestADeathBySignalIs128PlusTheSignal(t *testing.T) {
	code, recs := run(t, context.Background(), `kill -KILL $$`)
	if code != 137 || recs[len(recs)-1].text != "137" {
		t.Fatalf("exit code %d, records %v; want 137", code, recs)
	}
}

// syncBuffer lets the test read the output while Run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitLimit bounds a wait on a real condition: it only stops a hung test,
// sized for a loaded machine. The commands that must not end by themselves
// sleep far longer.
const waitLimit = 2 * time.Minute

func TestCancelSendsSIGTERMToTheCommandsGroupAndLinesAreFlushedLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, `trap 'echo got TERM; exit 7' TERM; echo ready; sleep 600 & wait`, &out)
	}()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(out.String(), " ready\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no ready line flushed while the command runs; output so far %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 7 {
			t.Fatalf("exit code %d, want 7 from the TERM trap", code)
		}
	case <-time.After(waitLimit):
		t.Fatal("step-exec did not stop after SIGTERM")
	}
	recs := decode(t, []byte(out.String()))
	if recs[1] != (record{frame.Stdout, "got TERM"}) {
		t.Fatalf("records %v, want the trap's line second", recs)
	}
}

func TestAProcessThatLeftTheGroupDoesNotHangTheStep(t *testing.T) {
	pidFile := t.TempDir() + "/pid"
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	start := time.Now()
	// The escaped process writes its pid once it has its own session.
	code, recs := run(t, context.Background(), fmt.Sprintf(
		`setsid sh -c 'echo $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s && exec sleep 300' & while [ ! -e %[1]s ]; do sleep 0.01; done; echo started`, pidFile))
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	// The escaped process sleeps 300s: waiting for it would take that long,
	// whatever the machine's load.
	if took := time.Since(start); took > 150*time.Second {
		t.Fatalf("took %v: waited for the escaped process", took)
	}
	if len(recs) != 3 || recs[1].kind != frame.Stderr || !strings.Contains(recs[1].text, "stopped reading output") {
		t.Fatalf("records %v, want started, a note on stderr, then the exit record", recs)
	}
}

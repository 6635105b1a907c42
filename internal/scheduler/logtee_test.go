package scheduler

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
)

// teeRecorder keeps what a LogTee receives, per key.
type teeRecorder struct {
	mu     sync.Mutex
	lines  map[logstore.Key][]logline.Line
	closed map[logstore.Key]int
	fail   string // a step whose copy cannot be opened
}

type teeSink struct {
	r *teeRecorder
	k logstore.Key
}

func (r *teeRecorder) open(k logstore.Key) (TeeSink, error) {
	if k.Step == r.fail {
		return nil, errors.New("the shared store is unreachable")
	}
	return teeSink{r, k}, nil
}

func (s teeSink) WriteLine(l logline.Line) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	l.Text = bytes.Clone(l.Text)
	s.r.lines[s.k] = append(s.r.lines[s.k], l)
	return nil
}

func (s teeSink) Close() error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.closed[s.k]++
	return nil
}

// The tee gets exactly the local log's lines, masked, and is closed once;
// a silent step opens none; a tee that fails changes neither the step nor
// its local log.
func TestLogTeeGetsTheMaskedLines(t *testing.T) {
	rec := &teeRecorder{lines: map[logstore.Key][]logline.Line{}, closed: map[logstore.Key]int{}, fail: "broken"}
	r := newRig(t, rigOpts{beforeStart: func(r *rig) { r.s.cfg.LogTee = rec.open }})
	run := r.submit(`steps:
  - name: talk
    command: 'for i in 1 2 3 4 5; do echo "line $i $API_TOKEN"; echo "err $i" >&2; done'
  - name: quiet
    command: "true"
  - name: broken
    command: echo still logged
`, map[string]string{"API_TOKEN": "hunter22-secret"})
	if end := r.waitEnd(run.ID); end.Status != "succeeded" {
		t.Fatalf("run %s: %s", end.Status, end.Reason)
	}
	talk := logstore.RunKey(run.ID, "talk", 1)
	local, err := r.logs.Read(talk, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	got := rec.lines[talk]
	eq := func(a, b logline.Line) bool {
		return a.N == b.N && a.Stream == b.Stream && a.Time.Equal(b.Time) && bytes.Equal(a.Text, b.Text)
	}
	if len(local) != 10 || !slices.EqualFunc(got, local, eq) {
		t.Fatalf("tee got %d lines, local log %d; want the same 10", len(got), len(local))
	}
	for _, l := range got {
		if bytes.Contains(l.Text, []byte("hunter22")) {
			t.Fatalf("the tee got a secret: %q", l.Text)
		}
	}
	if rec.closed[talk] != 1 {
		t.Errorf("tee of talk closed %d times, want 1", rec.closed[talk])
	}
	if _, ok := rec.lines[logstore.RunKey(run.ID, "quiet", 1)]; ok || len(rec.closed) != 1 {
		t.Errorf("a silent step or a failed tee was opened or closed: %v", rec.closed)
	}
	if l, err := r.logs.Read(logstore.RunKey(run.ID, "broken", 1), 1, 10); err != nil || len(l) != 1 {
		t.Errorf("local log of the step whose tee failed: %d lines, %v", len(l), err)
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type logLine struct {
	N      int64  `json:"n"`
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// followStepLog reads a step log's SSE stream from the line after
// lastID, calling seen for each line, until the "end" event (true) or the
// stream's end (false).
func (p *serverProc) followStepLog(t *testing.T, token string, tenant, run int64, step string, lastID int64, seen func(logLine)) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/tenants/%d/runs/%d/steps/%s/logs/follow", p.url, tenant, run, step), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("follow: %d %s", resp.StatusCode, b)
		return false
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			event = name
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if event == "end" {
			return true
		}
		var l logLine
		if err := json.Unmarshal([]byte(data), &l); err != nil {
			t.Errorf("follow: %v in %s", err, data)
			return false
		}
		seen(l)
	}
	return false
}

// checkStepLog: lines numbered 1..len(ls) with no gap, "out i" on stdout and
// "err i" on stderr, each stream in order (the two pipes interleave as they
// please), then "after i" on stdout.
func checkStepLog(t *testing.T, ls []logLine, pairs, after int) {
	t.Helper()
	if len(ls) != 2*pairs+after {
		t.Fatalf("%d lines, want %d", len(ls), 2*pairs+after)
	}
	next := map[string]int{"out": 1, "err": 1, "after": 1}
	for i, l := range ls {
		if l.N != int64(i+1) {
			t.Fatalf("line %d has number %d", i+1, l.N)
		}
		kind, num, _ := strings.Cut(l.Text, " ")
		wantStream := map[string]string{"out": "stdout", "err": "stderr", "after": "stdout"}[kind]
		if n, _ := strconv.Atoi(num); n != next[kind] || l.Stream != wantStream || (kind == "after" && next["out"]+next["err"] != 2*pairs+2) {
			t.Fatalf("line %d = %+v; want %s %d on %s (after all pairs if \"after\")", l.N, l, kind, next[kind], wantStream)
		}
		next[kind]++
	}
}

// A server that runs no steps shows the log of a step a worker runs: by
// range, followed live over SSE (from before the step prints its last
// lines until the end), resumed with Last-Event-ID, and as a download.
func TestServerShowsLogsOfAStepRunOnAWorker(t *testing.T) {
	rig := newPGRig(t)
	startWorker(t, rig.url)
	serverData := t.TempDir()
	srv := startServer(t, serverData, "--database-url", rig.url, "--secret", strings.Repeat("s", 40), "--run-steps=false")
	token, tenant := srv.signIn(t)

	const pairs, after = 1500, 100
	gate := filepath.Join(t.TempDir(), "go")
	wf := fmt.Sprintf(`steps:
  - name: talk
    command: |
      i=1; while [ $i -le %d ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done
      while [ ! -e %q ]; do sleep 0.05; done
      i=1; while [ $i -le %d ]; do echo "after $i"; i=$((i+1)); done
`, pairs, gate, after)
	var created struct{ ID int64 }
	srv.api(t, "POST", fmt.Sprintf("/api/v1/tenants/%d/runs", tenant), token, strings.NewReader(wf), 201, &created)

	// Follow from the start while the step runs.
	var mu sync.Mutex
	var followed []logLine
	ended := make(chan bool, 1)
	go func() {
		ended <- srv.followStepLog(t, token, tenant, created.ID, "talk", 0, func(l logLine) {
			mu.Lock()
			followed = append(followed, l)
			mu.Unlock()
		})
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(followed)
	}
	waitFor(t, "the follower to see the first lines", func() bool { return count() == 2*pairs })
	// The step is still running; a range read sees the same lines.
	var page struct {
		Lines []logLine `json:"lines"`
		Next  int64     `json:"next"`
	}
	srv.api(t, "GET", fmt.Sprintf("/api/v1/tenants/%d/runs/%d/steps/talk/logs?from=1000&limit=1500", tenant, created.ID), token, nil, 200, &page)
	if len(page.Lines) != 1500 || page.Next != 2500 {
		t.Fatalf("range 1000+1500 while running: %d lines, next %d", len(page.Lines), page.Next)
	}
	mu.Lock()
	for i, l := range page.Lines {
		if l != followed[999+i] {
			t.Fatalf("range line %+v, followed %+v", l, followed[999+i])
		}
	}
	mu.Unlock()
	if v := srv.run(t, token, tenant, created.ID); v.Steps[0].Status != "running" {
		t.Fatalf("step %s before the gate opened", v.Steps[0].Status)
	}

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !<-ended {
		t.Fatal("the follow stream ended without its end event")
	}
	checkStepLog(t, followed, pairs, after)
	waitFor(t, "the run to succeed", func() bool { return srv.run(t, token, tenant, created.ID).Status == "succeeded" })

	// Ranges after the end: across everything, and past it.
	var all []logLine
	for from := int64(1); ; {
		srv.api(t, "GET", fmt.Sprintf("/api/v1/tenants/%d/runs/%d/steps/talk/logs?from=%d&limit=777", tenant, created.ID, from), token, nil, 200, &page)
		if len(page.Lines) == 0 {
			break
		}
		all = append(all, page.Lines...)
		from = page.Next
	}
	checkStepLog(t, all, pairs, after)

	// Resumed with Last-Event-ID: the rest, then the end at once.
	var rest []logLine
	if !srv.followStepLog(t, token, tenant, created.ID, "talk", 3000, func(l logLine) { rest = append(rest, l) }) {
		t.Fatal("resumed follow ended without its end event")
	}
	if len(rest) != after || rest[0] != followed[3000] || rest[after-1] != followed[len(followed)-1] {
		t.Fatalf("resumed follow from 3000 = %d lines, want the last %d", len(rest), after)
	}

	// The download holds every line's text in line order.
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/tenants/%d/runs/%d/steps/talk/logs/raw", srv.url, tenant, created.ID), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var want strings.Builder
	for _, l := range all {
		want.WriteString(l.Text + "\n")
	}
	if string(raw) != want.String() {
		t.Fatalf("download: %d bytes, want %d", len(raw), want.Len())
	}

	// The server ran nothing itself: no local log can have served this.
	if logs, _ := filepath.Glob(filepath.Join(serverData, "logs", "runs", "*", "*")); len(logs) != 0 {
		t.Fatalf("the server has local logs: %v", logs)
	}
}

// A worker killed mid-step never ends its copy of the log: a follower
// still gets the lines it shipped, and the end once the attempt is over
// and the log has stayed still for a while, not never.
func TestFollowEndsWhenTheWorkerDied(t *testing.T) {
	rig := newPGRig(t)
	const lease = 2 * time.Second
	// --lost-retries 0: the lost attempt is the step's only one, so the
	// run fails instead of starting attempt 2 on worker-b.
	a := startWorker(t, rig.url, "--id", "worker-a", "--lease", lease.String(), "--safety-poll", "200ms", "--lost-retries", "0")
	srv := startServer(t, t.TempDir(), "--database-url", rig.url, "--secret", strings.Repeat("s", 40), "--run-steps=false")
	token, tenant := srv.signIn(t)
	wf := "steps:\n  - name: doomed\n    command: 'echo one; echo two >&2; exec sleep 300'\n"
	var created struct{ ID int64 }
	srv.api(t, "POST", fmt.Sprintf("/api/v1/tenants/%d/runs", tenant), token, strings.NewReader(wf), 201, &created)
	waitFor(t, "the step to start", func() bool { return srv.run(t, token, tenant, created.ID).Steps[0].Status == "running" })

	var mu sync.Mutex
	var got []logLine
	ended := make(chan bool, 1)
	go func() {
		ended <- srv.followStepLog(t, token, tenant, created.ID, "doomed", 0, func(l logLine) {
			mu.Lock()
			got = append(got, l)
			mu.Unlock()
		})
	}()
	waitFor(t, "the follower to see both lines", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	a.cmd.Process.Kill()
	<-a.done
	// Another worker finds the lease expired and records the attempt lost.
	startWorker(t, rig.url, "--id", "worker-b", "--lease", lease.String(), "--safety-poll", "200ms", "--lost-retries", "0")
	select {
	case ok := <-ended:
		if !ok {
			t.Fatal("the follow stream ended without its end event")
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the follow stream did not end; run %+v", srv.run(t, token, tenant, created.ID))
	}
	if v := srv.run(t, token, tenant, created.ID); v.Status != "failed" {
		t.Errorf("run %s, want failed (its only attempt was lost)", v.Status)
	}
}

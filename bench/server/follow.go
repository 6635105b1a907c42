package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// followWorkflow holds "print" back behind a gate step that blocks on a
// FIFO, so every follower is connected before the first line is printed.
func followWorkflow(fifo string, lines int) string {
	return fmt.Sprintf(`name: follow
steps:
  - name: gate
    command: cat %s > /dev/null
  - name: print
    depends_on: [gate]
    command: seq 1 %d
`, strconv.Quote(fifo), lines)
}

// followResult is point 2: how long from "print" starting until every
// follower had every line.
type followResult struct {
	delivered time.Duration // print's step_started → the last follower's last line
	printed   time.Duration // print's step_started → step_exited
}

// measureFollow starts the workflow, connects `followers` SSE readers to
// the print step's log, opens the gate, and checks that each reader gets
// lines 1..lines in order, each with its own number as text.
func measureFollow(c *client, dir string, followers, lines int, limit time.Duration) (followResult, error) {
	var res followResult
	fifo := filepath.Join(dir, fmt.Sprintf("gate-%s.fifo", randomHex(4)))
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return res, fmt.Errorf("making the gate FIFO: %w", err)
	}
	defer os.Remove(fifo)
	id, _, err := c.createRun(followWorkflow(fifo, lines))
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()

	path := c.runPath(id) + "/steps/print/logs/follow"
	var connected, finished sync.WaitGroup
	errs := make(chan error, followers)
	gotAll := make([]time.Time, followers) // when each had line `lines`
	connected.Add(followers)
	finished.Add(followers)
	for f := 0; f < followers; f++ {
		go func() {
			defer finished.Done()
			resp, err := c.stream(ctx, path)
			connected.Done()
			if err != nil {
				errs <- fmt.Errorf("follower %d: %w", f, err)
				return
			}
			defer resp.Body.Close()
			if gotAll[f], err = checkLines(resp.Body, lines); err != nil {
				errs <- fmt.Errorf("follower %d: %w", f, err)
			}
		}()
	}
	connected.Wait()
	if len(errs) > 0 {
		cancel()
		finished.Wait()
		return res, <-errs
	}
	if err := openGate(ctx, fifo); err != nil {
		return res, err
	}
	finished.Wait()
	close(errs)
	var failed error
	if err := <-errs; err != nil {
		n := 1 + len(errs)
		failed = fmt.Errorf("%d of %d followers failed; first: %w; %s", n, followers, err, storedLog(c, id, "print"))
	}
	var last time.Time
	for _, t := range gotAll {
		if t.IsZero() {
			return res, failed // someone never had every line: no delivery time
		}
		if t.After(last) {
			last = t
		}
	}
	start, exit, err := stepTimes(ctx, c, id, "print")
	if err != nil {
		return res, errors.Join(failed, err)
	}
	res.delivered, res.printed = last.Sub(start), exit.Sub(start)
	return res, failed
}

// measurePrint is the floor of point 2: the same step with no follower.
func measurePrint(c *client, lines int, limit time.Duration) (time.Duration, error) {
	id, _, err := c.createRun(fmt.Sprintf("name: print\nsteps:\n  - name: print\n    command: seq 1 %d\n", lines))
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start, exit, err := stepTimes(ctx, c, id, "print")
	return exit.Sub(start), err
}

// stepTimes waits for a run to succeed and returns when step began and ended.
func stepTimes(ctx context.Context, c *client, id int64, step string) (start, exit time.Time, err error) {
	events, status, err := c.waitRun(ctx, id)
	if err != nil {
		return start, exit, err
	}
	if status != "succeeded" {
		return start, exit, fmt.Errorf("run %d ended %s, want succeeded", id, status)
	}
	for _, e := range events {
		if e.Step == step && e.Kind == "step_started" {
			start = e.Time
		}
		if e.Step == step && e.Kind == "step_exited" {
			exit = e.Time
		}
	}
	if start.IsZero() || exit.IsZero() {
		return start, exit, fmt.Errorf("run %d: no step_started and step_exited for %q", id, step)
	}
	return start, exit, nil
}

// openGate opens the FIFO for writing, which waits for the gate step to
// open it for reading, and closes it: the step's cat sees EOF and exits.
func openGate(ctx context.Context, fifo string) error {
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			err = f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("the gate step never opened %s: %w", fifo, ctx.Err())
	}
}

// checkLines reads one follower's stream up to its "end" event and fails
// on a gap, a duplicate, a line out of order, text that is not the line's
// own number (what `seq` prints), or any line after the last. It returns
// when line `lines` arrived, even if something wrong came after it.
func checkLines(body io.Reader, lines int) (time.Time, error) {
	var want int64 = 1
	var num []byte
	var gotAll time.Time
	err := readSSE(body, func(id int64, name, data []byte) error {
		switch string(name) {
		case "line":
			if id > int64(lines) {
				return fmt.Errorf("line %d after the last one (%d): %s", id, lines, data)
			}
			if id != want {
				return fmt.Errorf("got line %d after line %d (gap or duplicate)", id, want-1)
			}
			num = strconv.AppendInt(num[:0], id, 10)
			if !containsField(data, `"n":`, num, ',') || !containsField(data, `"text":"`, num, '"') {
				return fmt.Errorf("line %d: data %s does not carry its number", id, data)
			}
			if want == int64(lines) {
				gotAll = time.Now()
			}
			want++
		case "end":
			return errEnd
		}
		return nil
	})
	if err != errEnd {
		return gotAll, fmt.Errorf("stream broke after line %d: %v", want-1, err)
	}
	if want-1 != int64(lines) {
		return gotAll, fmt.Errorf("end after %d lines, want %d", want-1, lines)
	}
	return gotAll, nil
}

// containsField reports whether data holds key, then val, then term.
func containsField(data []byte, key string, val []byte, term byte) bool {
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return false
	}
	rest := data[i+len(key):]
	return bytes.HasPrefix(rest, val) && len(rest) > len(val) && rest[len(val)] == term
}

// storedLog describes what the log store kept of a step, to tell a
// delivery fault from output the server never stored.
func storedLog(c *client, id int64, step string) string {
	type line struct {
		N      int64  `json:"n"`
		Stream string `json:"stream"`
		Text   string `json:"text"`
	}
	var n int64
	var stderr []line
	for from := int64(1); ; {
		var page struct {
			Lines []line `json:"lines"`
			Next  int64  `json:"next"`
		}
		path := fmt.Sprintf("%s/steps/%s/logs?from=%d&limit=10000", c.runPath(id), step, from)
		if err := c.do("GET", path, nil, 200, &page); err != nil {
			return "reading the stored log: " + err.Error()
		}
		if len(page.Lines) == 0 {
			break
		}
		for _, l := range page.Lines {
			if l.Stream == "stderr" {
				stderr = append(stderr, l)
			}
		}
		n, from = page.Lines[len(page.Lines)-1].N, page.Next
	}
	return fmt.Sprintf("the stored log has %d lines, of which stderr: %+v", n, stderr)
}

package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// chain is a workflow of n `true` steps, each depending on the one before.
func chain(n int) string {
	var b strings.Builder
	b.WriteString("name: chain\nsteps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: s%d\n    command: \"true\"\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "    depends_on: [s%d]\n", i-1)
		}
	}
	return b.String()
}

// dispatchResult holds the two latencies of point 1.
type dispatchResult struct {
	trigger []time.Duration // POST sent → first step_started
	handoff []time.Duration // step_exited → its dependent's step_started
	lastRun int64           // a finished run of `steps` steps, for wrk to GET
	early   int             // first steps that started before their POST returned
}

// measureDispatch runs `runs` chains of `steps` one after another and reads
// the latencies from the event timestamps the server recorded (it stamps
// step_started just before its commit). The trigger latency starts when the
// POST is sent, not when it returns: the first step often starts before the
// answer reaches the client, and "returned → started" would then be
// negative. Client and server share this machine's wall clock.
func measureDispatch(c *client, runs, steps int) (dispatchResult, error) {
	var res dispatchResult
	wf := chain(steps)
	for r := 0; r < runs; r++ {
		sent := time.Now()
		id, returned, err := c.createRun(wf)
		if err != nil {
			return res, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		events, status, err := c.waitRun(ctx, id)
		cancel()
		if err != nil {
			return res, err
		}
		if status != "succeeded" {
			return res, fmt.Errorf("chain run %d ended %s, want succeeded", id, status)
		}
		started := map[string]time.Time{}
		exited := map[string]time.Time{}
		for _, e := range events {
			switch e.Kind {
			case "step_started":
				started[e.Step] = e.Time
			case "step_exited":
				exited[e.Step] = e.Time
			}
		}
		if len(started) != steps || len(exited) != steps {
			return res, fmt.Errorf("run %d: %d steps started and %d exited, want %d each", id, len(started), len(exited), steps)
		}
		if started["s0"].Before(returned) {
			res.early++
		}
		res.trigger = append(res.trigger, started["s0"].Sub(sent))
		for i := 1; i < steps; i++ {
			res.handoff = append(res.handoff, started[fmt.Sprintf("s%d", i)].Sub(exited[fmt.Sprintf("s%d", i-1)]))
		}
		res.lastRun = id
	}
	return res, nil
}

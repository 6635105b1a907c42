package storetest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

const crashEnv = "RUNBOOK_STORETEST_CRASH_LOCATION"

// CrashLocation is the storage a CrashRecovery child must use; "" when
// this process is not such a child.
func CrashLocation() string { return os.Getenv(crashEnv) }

// CrashChild is the child's side of CrashRecovery: it applies events as
// fast as it can, printing "applied" after each committed Apply, until it
// is killed. It never returns.
func CrashChild(s store.Store) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(1)
	}
	tn, err := s.CreateTenant(ctx, "crash")
	if err != nil {
		fail(err)
	}
	fmt.Printf("tenant %d\n", tn.ID)
	for {
		r, err := s.CreateRun(ctx, store.NewRun{TenantID: tn.ID, File: "wide.yml", Source: []byte(wideYAML(10))})
		if err != nil {
			fail(err)
		}
		// Every step starts before the first one fails, so that each event
		// counts (a step still queued at the failure would be cancelled at
		// once, and its later events ignored and not logged).
		evs := []engine.Event{{Kind: engine.RunRequested}}
		for i := range 10 {
			evs = append(evs, engine.Event{Kind: engine.StepStarted, Step: fmt.Sprintf("s%d", i), Attempt: 1})
		}
		for i := range 10 {
			evs = append(evs, engine.Event{Kind: engine.StepExited, Step: fmt.Sprintf("s%d", i), Attempt: 1, ExitCode: i % 2})
		}
		for _, e := range evs {
			if _, _, err := s.Apply(ctx, r.ID, e); err != nil {
				fail(err)
			}
			fmt.Println("applied")
		}
	}
}

// CrashRecovery runs this test binary again as a child that applies events
// (CrashChild, selected by testName and the location in the environment),
// kills it with SIGKILL mid-stream, then opens the storage and checks that
// nothing is half-done: every acknowledged event is there, each run's log
// replays to its projections, and the outbox holds exactly the commands
// the logged events decided.
func CrashRecovery(t *testing.T, testName, location string, open func(tb testing.TB, location string) store.Store) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+location)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 150
	var tenantID int64
	acked := 0
	sc := bufio.NewScanner(out)
	for acked < killAfter && sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "tenant "); ok {
			tenantID, _ = strconv.ParseInt(id, 10, 64)
		} else if line == "applied" {
			acked++
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if acked < killAfter || tenantID == 0 {
		t.Fatalf("the child acknowledged %d events before it stopped (tenant %d); its stderr:\n%s", acked, tenantID, stderr.String())
	}

	s := open(t, location)
	ctx := context.Background()
	logged, decided := 0, 0
	var page store.RunPage
	for {
		if page, err = s.ListRuns(ctx, tenantID, store.RunFilter{}, store.Page{Limit: store.MaxLimit, Cursor: page.Next}); err != nil {
			t.Fatal(err)
		}
		for _, lr := range page.Runs {
			r := getRun(t, s, tenantID, lr.ID)
			evs := events(t, s, tenantID, r.ID)
			wf, err := workflow.Parse(r.File, r.Source)
			if err != nil {
				t.Fatal(err)
			}
			st := engine.New(wf, r.Vars)
			for _, ev := range evs {
				var cmds []engine.Command
				if st, cmds, err = engine.Decide(st, ev.Event); err != nil {
					t.Fatal(err)
				}
				decided += len(cmds)
			}
			if r.LastSeq != int64(len(evs)) {
				t.Fatalf("run %d: LastSeq %d but %d events logged", r.ID, r.LastSeq, len(evs))
			}
			checkProjection(t, r, st)
			logged += len(evs)
		}
		if page.Next == "" {
			break
		}
	}
	if logged < acked {
		t.Fatalf("after kill -9, %d events are stored but the child was told %d were committed", logged, acked)
	}
	claimed, err := s.ClaimCommands(ctx, "recovery", 100000, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != decided {
		t.Fatalf("outbox holds %d commands, but the logged events decided %d", len(claimed), decided)
	}
	t.Logf("killed after %d acknowledged events; %d stored, %d commands in the outbox", acked, logged, decided)
}

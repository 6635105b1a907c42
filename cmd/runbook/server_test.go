package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/runbookhq/runbook/internal/engine"
)

// waitLimit bounds every wait on a real condition (a process listening, a
// step starting): it only stops a hung test, and is sized for a machine
// whose load is many times its cores, not for a quiet one.
const waitLimit = 2 * time.Minute

// serverProc is a real `runbook server` child process.
type serverProc struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan struct{}
}

// startServer starts the binary on a free port and waits for its
// "listening" log line.
func startServer(t *testing.T, dataDir string, args ...string) *serverProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"server", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--log-format", "json"}, sandboxChoice(args)...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			p.logs.Write(append(line, '\n'))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "runbook server listening" {
				addr <- rec.Addr
			}
		}
		cmd.Wait()
	}()
	select {
	case p.url = <-addr:
	case <-p.done:
		t.Fatalf("server exited before listening:\n%s", p.logs)
	case <-time.After(waitLimit):
		cmd.Process.Kill()
		t.Fatalf("server did not listen within %v:\n%s", waitLimit, p.logs)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// api calls the server and decodes a JSON answer into out (when not nil).
func (p *serverProc) api(t *testing.T, method, path, token string, body io.Reader, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, p.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func (p *serverProc) signIn(t *testing.T) (token string, tenant int64) {
	t.Helper()
	var u struct {
		User struct {
			TenantID int64 `json:"tenant_id"`
		}
	}
	p.api(t, "POST", "/api/v1/auth/signup", "", strings.NewReader(`{"email":"ops@example.com","username":"ops","password":"a long enough password"}`), 201, &u)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	p.api(t, "POST", "/api/v1/auth/login", "", strings.NewReader(`{"login":"ops","password":"a long enough password"}`), 200, &tok)
	return tok.AccessToken, u.User.TenantID
}

type runEvent struct {
	Seq     int64  `json:"seq"`
	Kind    string `json:"kind"`
	Step    string `json:"step"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason"`
}

// follow reads the run's SSE stream and returns when until says so or the
// stream ends; it returns every event read.
func (p *serverProc) follow(t *testing.T, token string, tenant, run int64, until func(runEvent) bool) []runEvent {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/tenants/%d/runs/%d/events", p.url, tenant, run), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []runEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e runEvent
		if err := json.Unmarshal([]byte(data), &e); err != nil || e.Kind == "" {
			continue // the "end" event
		}
		events = append(events, e)
		if until != nil && until(e) {
			return events
		}
	}
	return events
}

type runView struct {
	Status string
	Steps  []struct {
		Name    string
		Status  string
		Attempt int
		Reason  string
	}
}

func (p *serverProc) run(t *testing.T, token string, tenant, id int64) runView {
	var v runView
	p.api(t, "GET", fmt.Sprintf("/api/v1/tenants/%d/runs/%d", tenant, id), token, nil, 200, &v)
	return v
}

func TestServerKilledMidRunRecoversOnRestart(t *testing.T) {
	data := t.TempDir()
	count := filepath.Join(t.TempDir(), "done.count")
	marker := fmt.Sprintf("RB_CRASH_MARKER_%d", time.Now().UnixNano())
	srv := startServer(t, data)
	token, tenant := srv.signIn(t)

	wf := fmt.Sprintf(`global:
  env:
    COUNT: %q
    %s: "1"
steps:
  - name: Done
    command: echo ran >> "$COUNT"
  - name: Crashy
    depends_on: [Done]
    retries: 1
    command: |
      if [ "$RUNBOOK_ATTEMPT" = 1 ]; then sleep 300 & wait; fi
      echo "attempt $RUNBOOK_ATTEMPT"
`, count, marker)
	var created struct{ ID int64 }
	srv.api(t, "POST", fmt.Sprintf("/api/v1/tenants/%d/runs", tenant), token, strings.NewReader(wf), 201, &created)
	srv.follow(t, token, tenant, created.ID, func(e runEvent) bool { return e.Kind == "step_started" && e.Step == "Crashy" })
	waitFor(t, "the step's shell and its sleep to run", func() bool { return markedProcesses(t, marker) >= 2 })

	// kill -9: no shutdown code runs, the step's processes are orphaned.
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	// Root gives each step a PID namespace that dies with the server;
	// otherwise the restart below has to reap them.
	if os.Geteuid() == 0 {
		markedGone(t, marker)
	} else if n := markedProcesses(t, marker); n == 0 {
		t.Fatal("the step's processes died with the server; this test would not show that restart reaps them")
	}

	srv2 := startServer(t, data)
	events := srv2.follow(t, token, tenant, created.ID, nil)
	v := srv2.run(t, token, tenant, created.ID)
	if v.Status != "succeeded" {
		t.Fatalf("after restart the run is %s, want succeeded: %+v\nlogs:\n%s", v.Status, v, srv2.logs)
	}
	if crashy := v.Steps[1]; crashy.Status != "succeeded" || crashy.Attempt != 2 {
		t.Errorf("Crashy %s after %d attempts, want succeeded on attempt 2", crashy.Status, crashy.Attempt)
	}
	lost := false
	for _, e := range events {
		if e.Kind == "executor_lost" && e.Step == "Crashy" && e.Attempt == 1 && strings.Contains(e.Reason, "server stopped") {
			lost = true
		}
	}
	if !lost {
		t.Errorf("no executor_lost event with the reason for Crashy's first attempt: %+v", events)
	}
	if b, _ := os.ReadFile(count); strings.Count(string(b), "ran") != 1 {
		t.Errorf("Done ran %d times, want once", strings.Count(string(b), "ran"))
	}
	if n := markedProcesses(t, marker); n != 0 {
		t.Errorf("%d processes of the crashed step survived the restart", n)
	}
}

func TestServerSIGTERMStopsStepsAfterGraceAndRecordsWhy(t *testing.T) {
	data := t.TempDir()
	marker := fmt.Sprintf("RB_TERM_MARKER_%d", time.Now().UnixNano())
	// --lost-retries 0: the lost attempt counts against the step's (no)
	// retries, so the run fails with the reason instead of starting again.
	srv := startServer(t, data, "--grace", "1s", "--lost-retries", "0")
	token, tenant := srv.signIn(t)
	wf := fmt.Sprintf("global:\n  env:\n    %s: \"1\"\nsteps:\n  - name: Long\n    command: sleep 300\n", marker)
	var created struct{ ID int64 }
	srv.api(t, "POST", fmt.Sprintf("/api/v1/tenants/%d/runs", tenant), token, strings.NewReader(wf), 201, &created)
	srv.follow(t, token, tenant, created.ID, func(e runEvent) bool { return e.Kind == "step_started" })

	start := time.Now()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, srv.logs)
	}
	// The step sleeps 300s: a shutdown that waited for it would take that
	// long, whatever the machine's load.
	if took := time.Since(start); took > 150*time.Second {
		t.Errorf("shutdown took %v with a 1s grace period: it waited for the step", took)
	}
	if n := markedProcesses(t, marker); n != 0 {
		t.Errorf("%d processes of the step outlived the server", n)
	}

	srv2 := startServer(t, data)
	srv2.follow(t, token, tenant, created.ID, nil)
	v := srv2.run(t, token, tenant, created.ID)
	if v.Status != "failed" || !strings.Contains(v.Steps[0].Reason, "shut down") {
		t.Errorf("run %s, step %+v; want failed with the shutdown as the reason", v.Status, v.Steps[0])
	}
}

// waitFor polls cond, a condition on real state, until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// `server` takes --lease and --max-steps as `worker` does (one set-up
// runs steps for both): its claims hold the lease it was given, and it
// runs no more steps at once than it was told.
func TestServerTakesLeaseAndMaxSteps(t *testing.T) {
	rig := newPGRig(t)
	startServer(t, t.TempDir(), "--database-url", rig.url, "--secret", strings.Repeat("s", 40), "--lease", "3s", "--max-steps", "1")

	// Three independent steps that fail when another one runs beside them.
	lock := filepath.Join(t.TempDir(), "running")
	step := fmt.Sprintf(`mkdir %q || exit 9; sleep 0.3; rmdir %q`, lock, lock)
	id := rig.submit(t, fmt.Sprintf("steps:\n  - {name: a, command: '%[1]s'}\n  - {name: b, command: '%[1]s'}\n  - {name: c, command: '%[1]s'}\n", step))
	if run := rig.waitEnded(t, id); run.Status != engine.RunSucceeded {
		t.Errorf("run %s, steps %+v: with --max-steps 1 no two steps may run at once", run.Status, run.Steps)
	}

	id = rig.submit(t, "steps:\n  - {name: long, command: sleep 300}\n")
	waitFor(t, "the step to run", func() bool { return rig.get(t, id).Steps[0].Status == engine.StepRunning })
	conn, err := pgx.Connect(context.Background(), rig.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var secs float64
	if err := conn.QueryRow(context.Background(), `SELECT extract(epoch FROM lease_until - now())::float8 FROM outbox
		WHERE run_id = $1 AND kind = 'start_step' AND done_at IS NULL`, id).Scan(&secs); err != nil {
		t.Fatal(err)
	}
	left := time.Duration(secs * float64(time.Second))
	// Renewed every lease/3 to now+lease: never more than the lease ahead
	// (the default is 30s).
	if left > 3*time.Second || left <= 0 {
		t.Errorf("the running step's lease ends in %v, want within the 3s of --lease", left)
	}
}

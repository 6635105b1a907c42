package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
)

// Multi-worker tests: several `runbook worker` processes share one
// Postgres outbox while runs of a real DAG go through them, and a worker
// dies or the database restarts in the middle. Each step's command appends
// "run/step/attempt" to a file (O_APPEND, one write), so executions are
// counted for real, besides the store's events.

// mwLease is the workers' lease: short, so a dead worker's steps come back
// quickly. The safety poll is far longer than any test wait: whatever the
// tests need happens through NOTIFY and lease timers alone.
const (
	mwLease      = 3 * time.Second
	mwSafetyPoll = "10m"
	// mwTakeoverSlack is what a survivor may take, after a dead worker's
	// lease ends, to record its steps lost: a loaded machine's share of
	// the time, far below the safety poll that would find them otherwise.
	mwTakeoverSlack = 30 * time.Second
)

// dagSteps are the 10 steps of mwDAG: a fans out to b1..b4, which fan in to
// c (the slow one), which fans out to d1..d3, which fan in to e.
var dagSteps = []string{"a", "b1", "b2", "b3", "b4", "c", "d1", "d2", "d3", "e"}

// mwDAG is the workflow of every run. Each step records its execution
// after its work, so a line means the command ran to its end.
func mwDAG(out string) string {
	deps := map[string]string{
		"b1": "a", "b2": "a", "b3": "a", "b4": "a",
		"c":  "b1, b2, b3, b4",
		"d1": "c", "d2": "c", "d3": "c",
		"e": "d1, d2, d3",
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  env:\n    OUT: %q\nsteps:\n", out)
	for _, s := range dagSteps {
		work := ""
		if s == "c" {
			work = "sleep 0.5; " // long enough that a killed worker surely holds some
		}
		fmt.Fprintf(&b, "  - name: %s\n    retries: 1\n", s)
		if d := deps[s]; d != "" {
			fmt.Fprintf(&b, "    depends_on: [%s]\n", d)
		}
		fmt.Fprintf(&b, "    command: '%secho \"$RUNBOOK_RUN_ID/$RUNBOOK_STEP/$RUNBOOK_ATTEMPT\" >> \"$OUT\"'\n", work)
	}
	return b.String()
}

// mwStall is how long mwLoad waits without a single run ending before it
// fails. It bounds no throughput: a loaded machine (load 15 on 2 cores
// made 200 runs take well over a minute) still ends a run every few
// seconds, so only a real hang goes a whole minute without one.
const mwStall = 60 * time.Second

// mwLoad submits n runs of mwDAG through the store, keeping at most
// inFlight unfinished (as a steady stream of triggers would). Once a third
// of them have ended it calls during at every round, submissions going on,
// until during reports it acted. It returns the run ids and how long the
// runs took, first submit to last end. It fails when no run ends for
// mwStall, never for being slow.
func mwLoad(t *testing.T, rig *pgRig, out string, n, inFlight int, during func() bool) ([]int64, time.Duration) {
	t.Helper()
	ctx := context.Background()
	src := mwDAG(out)
	var ids []int64
	start := time.Now()
	ended, did := 0, false
	lastEnd, progressAt := 0, start
	for ended < n {
		if ended > lastEnd {
			lastEnd, progressAt = ended, time.Now()
		}
		if stalled := time.Since(progressAt); stalled > mwStall {
			held := "(database unreachable)"
			if conn, err := pgx.Connect(ctx, rig.url); err == nil {
				held = holders(conn)
				conn.Close(ctx)
			}
			t.Fatalf("no run ended for %v: %d of %d runs ended in %v; held commands: %s",
				stalled.Round(time.Second), ended, n, time.Since(start).Round(time.Second), held)
		}
		st, err := rig.st.Stats(ctx)
		if err != nil {
			// The database may be restarting: the test's own connections fail
			// too. Try again; a restart that never ends is a stall.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ended = int(st.RunsByStatus[engine.RunSucceeded] + st.RunsByStatus[engine.RunFailed] + st.RunsByStatus[engine.RunCancelled])
		if !did && ended >= n/3 && during() {
			did = true
			continue
		}
		for len(ids) < n && len(ids)-ended < inFlight {
			ids = append(ids, rig.submit(t, src))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !did {
		t.Fatalf("all %d runs ended before the moment the test waits for came", n)
	}
	return ids, time.Since(start)
}

// holders says who holds which unfinished commands, for a failure message.
func holders(conn *pgx.Conn) string {
	rows, err := conn.Query(context.Background(), `SELECT coalesce(o.claimed_by, '-'), o.kind, coalesce(s.status, '-'), count(*)
		FROM outbox o LEFT JOIN steps s ON s.run_id = o.run_id AND s.name = o.step AND s.attempt = o.attempt
		WHERE o.done_at IS NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for rows.Next() {
		var owner, kind, status string
		var n int
		if err := rows.Scan(&owner, &kind, &status, &n); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "\n  %s: %d %s (step %s)", owner, n, kind, status)
	}
	rows.Close()
	return b.String()
}

// execKey is one attempt of one step of one run.
type execKey struct {
	run     int64
	step    string
	attempt int
}

// readExecutions counts the lines each attempt wrote.
func readExecutions(t *testing.T, out string) map[execKey]int {
	t.Helper()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[execKey]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "/")
		if len(parts) != 3 {
			t.Fatalf("malformed execution line %q", sc.Text())
		}
		run, err1 := strconv.ParseInt(parts[0], 10, 64)
		attempt, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("malformed execution line %q", sc.Text())
		}
		got[execKey{run, parts[1], attempt}]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// lostAttempt is an attempt the store recorded lost.
type lostAttempt struct {
	key    execKey
	at     time.Time
	reason string
	ran    bool // its command ran to the end: the worker died before reporting it
}

// checkRunsOnce asserts that every run succeeded with every step's outcome
// recorded once per attempt, that the store's starts match the executions
// counted in out, and that no attempt ran twice: a step that completed ran
// once, and only an attempt recorded lost (its worker gone before it could
// report) may have been followed by another. It returns the lost attempts.
func checkRunsOnce(t *testing.T, rig *pgRig, ids []int64, out string) []lostAttempt {
	t.Helper()
	ctx := context.Background()
	execs := readExecutions(t, out)
	total := 0
	for _, n := range execs {
		total += n
	}
	t.Logf("%d step executions counted in the file for %d runs × %d steps", total, len(ids), len(dagSteps))
	var lost []lostAttempt
	seen := map[execKey]bool{}
	for _, id := range ids {
		run := rig.get(t, id)
		if run.Status != engine.RunSucceeded {
			t.Errorf("run %d %s (%s), want succeeded", id, run.Status, run.Reason)
			continue
		}
		evs, err := rig.st.Events(ctx, rig.tenant, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		started := map[execKey]int{}
		exited := map[string]int{}
		outcomes := map[execKey]int{}
		for _, e := range evs {
			k := execKey{id, e.Step, e.Attempt}
			switch e.Kind {
			case engine.StepStarted:
				started[k]++
			case engine.StepExited:
				exited[e.Step]++
				outcomes[k]++
				if e.ExitCode != 0 {
					t.Errorf("run %d step %s attempt %d exited %d", id, e.Step, e.Attempt, e.ExitCode)
				}
			case engine.ExecutorLost:
				outcomes[k]++
				lost = append(lost, lostAttempt{k, e.Time, e.Reason, execs[k] > 0})
			}
		}
		for _, st := range run.Steps {
			if st.Status != engine.StepSucceeded {
				t.Errorf("run %d step %s %s, want succeeded", id, st.Name, st.Status)
			}
			if exited[st.Name] != 1 {
				t.Errorf("run %d step %s completed %d times in the store, want once", id, st.Name, exited[st.Name])
			}
			for a := 1; a <= st.Attempt; a++ {
				k := execKey{id, st.Name, a}
				seen[k] = true
				if started[k] != 1 || outcomes[k] != 1 {
					t.Errorf("run %d step %s attempt %d: %d starts and %d outcomes recorded, want 1 and 1", id, st.Name, a, started[k], outcomes[k])
				}
				switch n := execs[k]; {
				case n > 1:
					t.Errorf("run %d step %s attempt %d ran %d times", id, st.Name, a, n)
				case a == st.Attempt && n != 1:
					t.Errorf("run %d step %s: its succeeded attempt %d left %d executions, want 1", id, st.Name, a, n)
				}
			}
		}
	}
	for k, n := range execs {
		if !seen[k] {
			t.Errorf("%d executions of %+v, an attempt the store never had", n, k)
		}
	}
	return lost
}

// Three workers run 200 runs of a 10-step DAG; one of them is SIGKILLed
// while it runs steps. Its running steps are recorded lost naming it within
// its lease (the survivors' claim loops wake when its leases end: no poll
// could find them, the safety poll is 10 minutes), they run again on a
// survivor, every run succeeds, and nothing that completed runs twice.
func TestMultiWorkerDAGsSurviveAKilledWorker(t *testing.T) {
	rig := newPGRig(t)
	out := filepath.Join(t.TempDir(), "executions")
	args := []string{"--lease", mwLease.String(), "--safety-poll", mwSafetyPoll, "--max-steps", "8"}
	survivors := []*workerProc{
		startWorker(t, rig.url, append([]string{"--id", "mw-1"}, args...)...),
		startWorker(t, rig.url, append([]string{"--id", "mw-2"}, args...)...),
	}
	victim := startWorker(t, rig.url, append([]string{"--id", "mw-victim"}, args...)...)

	conn, err := pgx.Connect(context.Background(), rig.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed time.Time
	held := 0
	ids, took := mwLoad(t, rig, out, 200, 16, func() bool {
		// Kill it while it runs the slow step: its lease on it is live.
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM outbox o
			JOIN steps s ON s.run_id = o.run_id AND s.name = o.step AND s.attempt = o.attempt
			WHERE o.claimed_by = 'mw-victim' AND o.done_at IS NULL AND o.kind = 'start_step'
				AND s.status = 'running' AND s.name = 'c'`).Scan(&held)
		if err != nil || held == 0 {
			return false
		}
		killed = time.Now() // before the signal: the figures err on the long side
		victim.cmd.Process.Kill()
		<-victim.done
		return true
	})
	t.Logf("200 runs × 10 steps on 3 workers (one killed): %v, %.1f runs/s, %.0f steps/s", took.Round(time.Millisecond),
		200/took.Seconds(), 2000/took.Seconds())

	lost := checkRunsOnce(t, rig, ids, out)
	var slowest time.Duration
	fastest, ran := time.Hour, 0
	for _, l := range lost {
		if l.ran {
			ran++
		}
		if !strings.Contains(l.reason, "worker mw-victim stopped renewing its lease") {
			t.Errorf("%+v lost: %q, want the victim named", l.key, l.reason)
			continue
		}
		took := l.at.Sub(killed)
		slowest, fastest = max(slowest, took), min(fastest, took)
		// A survivor's lease timer found it, not the safety poll (10
		// minutes): on a quiet machine within the lease plus a second or
		// two (the log shows the figures). The bound leaves a loaded
		// machine room for the takeover's own writes.
		if took > mwLease+mwTakeoverSlack {
			t.Errorf("%+v recorded lost %v after the kill, with a %v lease: no lease timer woke a survivor", l.key, took, mwLease)
		}
	}
	if len(lost) == 0 {
		t.Fatalf("no attempt was recorded lost, though the victim held %d running steps when killed", held)
	}
	t.Logf("victim held %d running slow steps; %d attempts recorded lost %v to %v after the SIGKILL (lease %v), %d of them after their command had ended",
		held, len(lost), fastest.Round(time.Millisecond), slowest.Round(time.Millisecond), mwLease, ran)
	noErrors(t, survivors)
}

// noErrors fails the test for every error a worker logged: losing a
// worker or the database for a moment is routine, not an error.
func noErrors(t *testing.T, workers []*workerProc) {
	t.Helper()
	for i, w := range workers {
		for _, l := range strings.Split(w.log(), "\n") {
			if strings.Contains(l, `"level":"ERROR"`) {
				t.Errorf("worker %d logged an error: %s", i+1, l)
			}
		}
	}
}

// pgCluster is a Postgres cluster of one test's own, which it may restart
// (never the machine's shared one).
type pgCluster struct {
	t    *testing.T
	dir  string
	opts string
	url  string
}

// pgBin holds the server binaries of the Postgres the machine has.
const pgBin = "/usr/lib/postgresql/15/bin"

// startCluster initdbs a cluster in a temporary directory and starts it on
// a free port. initdb refuses root, so as root it runs as user postgres.
func startCluster(t *testing.T) *pgCluster {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		t.Skipf("this test restarts a Postgres cluster of its own and needs %s/initdb: %v", pgBin, err)
	}
	base := t.TempDir()
	dir := filepath.Join(base, "pg")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &pgCluster{t: t, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("initdb refuses root and there is no user postgres to run it as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// The user must reach the directory through the test's own.
		for _, d := range []string{filepath.Dir(base), base} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// No fsync: the restart is a clean (fast) shutdown, which writes
	// everything; this spares the shared disk.
	c.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200", port, dir)
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	c.pg("initdb", "-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	c.pg("pg_ctl", "-D", dir, "-l", filepath.Join(dir, "server.log"), "-o", c.opts, "-w", "-t", "60", "start")
	t.Cleanup(func() { c.pg("pg_ctl", "-D", dir, "-m", "immediate", "-w", "stop") })
	return c
}

// pg runs one of the server's programs, as user postgres when root.
func (c *pgCluster) pg(prog string, args ...string) {
	c.t.Helper()
	path := filepath.Join(pgBin, prog)
	cmd := exec.Command(path, args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", prog, strings.Join(args, " "), err, out, log)
	}
}

// restart stops the cluster (fast: open sessions are ended) and starts it
// again, returning once it accepts connections.
func (c *pgCluster) restart() {
	c.t.Helper()
	c.pg("pg_ctl", "-D", c.dir, "-l", filepath.Join(c.dir, "server.log"), "-o", c.opts, "-m", "fast", "-w", "-t", "60", "restart")
}

// Three workers run DAGs on a Postgres that restarts in the middle, every
// session cut. The workers reconnect (their pools, and the LISTEN
// connections: with a 10-minute safety poll, a chain of steps that only
// one worker each may run moves on only by NOTIFY), no run is lost or
// stuck, and no attempt runs twice: only one whose worker could not report
// it in time (recorded lost) may be retried.
func TestMultiWorkerPostgresRestart(t *testing.T) {
	cluster := startCluster(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, cluster.url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	tn, err := st.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	rig := &pgRig{url: cluster.url, st: st, tenant: tn.ID}
	out := filepath.Join(t.TempDir(), "executions")
	var workers []*workerProc
	for i := 1; i <= 3; i++ {
		workers = append(workers, startWorker(t, cluster.url, "--id", fmt.Sprintf("mw-%d", i), "--labels", fmt.Sprintf("w=%d", i),
			"--lease", mwLease.String(), "--safety-poll", mwSafetyPoll, "--max-steps", "8"))
	}

	var down time.Duration
	ids, took := mwLoad(t, rig, out, 60, 16, func() bool {
		r, err := st.RunsInProgress(ctx)
		slow := err == nil && slices.ContainsFunc(r, func(r store.Run) bool {
			return slices.ContainsFunc(r.Steps, func(s store.Step) bool { return s.Name == "c" && s.Status == engine.StepRunning })
		})
		if !slow {
			return false
		}
		start := time.Now()
		cluster.restart()
		down = time.Since(start)
		// A fresh pool: the old one's sessions were ended, and a run
		// created on a dying one might be half-submitted.
		st.Close()
		if st, err = postgres.Open(ctx, cluster.url); err != nil {
			t.Fatal(err)
		}
		rig.st = st
		return true
	})
	t.Logf("60 runs × 10 steps on 3 workers across a Postgres restart (pg_ctl restart took %v): %v, %.1f runs/s",
		down.Round(time.Millisecond), took.Round(time.Millisecond), 60/took.Seconds())
	lost := checkRunsOnce(t, rig, ids, out)
	for _, l := range lost {
		t.Logf("retried after the restart: %+v (%s)", l.key, l.reason)
	}

	// Every worker's LISTEN connection is back: each step of this chain
	// may run on one worker only, and is enqueued by another.
	chain := "steps:\n"
	for i := 1; i <= 3; i++ {
		chain += fmt.Sprintf("  - {name: s%d, command: \"true\", runs_on: {w: \"%d\"}", i, i)
		if i > 1 {
			chain += fmt.Sprintf(", depends_on: [s%d]", i-1)
		}
		chain += "}\n"
	}
	id := rig.submit(t, chain)
	run := rig.waitEnded(t, id)
	if run.Status != engine.RunSucceeded {
		t.Fatalf("chain across the workers: %s (%s)", run.Status, run.Reason)
	}
	for i, w := range workers {
		if !strings.Contains(w.log(), "LISTEN connection lost; reconnecting") {
			t.Errorf("worker %d did not see its LISTEN connection drop:\n%s", i+1, w.log())
		}
	}
	noErrors(t, workers)
}

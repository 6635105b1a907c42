// Package workers measures `runbook worker` processes sharing one Postgres
// database (issue 7, benchmarks): step throughput with 1, 2 and 4 workers,
// the time from a claim to the step's start, and the database work per
// step, each against a floor measured in the same run. Run it alone:
//
//	CI=true go test ./bench/workers -run TestWorkersBench -v -count=1 -timeout 30m -args -workers [-k 1,2,4] [-widths 1,20] [-steps 400] [-samples 100]
//
// It builds cmd/runbook, and for every worker count and workload makes a
// fresh database with internal/testdb (127.0.0.1:5432 or
// RUNBOOK_TEST_DATABASE_URL; skipped when unreachable, except under
// CI=true). See bench/README.md for what each figure is and how it is
// obtained.
package workers

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbookhq/runbook/bench/stats"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/testdb"
)

var (
	enabled    = flag.Bool("workers", false, "run the workers benchmark")
	kList      = flag.String("k", "1,2,4", "worker counts to measure, comma-separated; the first is the base of the ratios")
	widths     = flag.String("widths", "1,20", "throughput workloads: steps per run (independent steps), comma-separated")
	nSteps     = flag.Int("steps", 400, "steps in each throughput workload")
	rounds     = flag.Int("rounds", 3, "timed rounds of each throughput workload (the median is shown)")
	samples    = flag.Int("samples", 100, "one-step runs, one after another, for the unloaded claim-to-start latency")
	maxSteps   = flag.Int("max-steps", 4, "--max-steps of each worker")
	floorN     = flag.Int("floor", 400, "processes forked for each floor figure")
	runbookBin = flag.String("runbook", "", "a runbook binary to run as the workers (default: build cmd/runbook)")
)

// lease is long enough that no lease is renewed during a phase: a claim's
// time is then lease_until − lease, as the claimer stamped it.
const lease = 10 * time.Minute

const tenantPlan = "bench"

// benchApp is the application_name of the bench's own connections.
const benchApp = "runbook-bench"

func TestWorkersBench(t *testing.T) {
	if !*enabled {
		t.Skip("a benchmark: run with -args -workers (see the package comment)")
	}
	testdb.Require(t)
	ks := ints(t, *kList)
	ws := ints(t, *widths)
	bin := build(t)
	fl := measureFloor(t)

	// Timed rounds go round the worker counts, so that a change in the
	// machine's load spreads over all of them; rows are counted in the
	// first round only (they wait for pg_stat_database to settle).
	timed := map[[2]int][]throughputResult{}
	for round := range *rounds {
		for _, k := range ks {
			for _, w := range ws {
				t.Run(fmt.Sprintf("throughput/w%d/k%d/timed%d", w, k, round+1), func(t *testing.T) {
					timed[[2]int{k, w}] = append(timed[[2]int{k, w}], throughput(t, bin, k, w, false, round == 0))
				})
			}
		}
	}
	var tput []throughputResult
	var lat []latencyResult
	for _, k := range ks {
		for _, w := range ws {
			r := median(timed[[2]int{k, w}])
			t.Run(fmt.Sprintf("throughput/w%d/k%d/counted", w, k), func(t *testing.T) { r.counted = throughput(t, bin, k, w, true, false).counted })
			tput = append(tput, r)
		}
		var r latencyResult
		t.Run(fmt.Sprintf("latency/k%d/timed", k), func(t *testing.T) { r = latency(t, bin, k, false) })
		t.Run(fmt.Sprintf("latency/k%d/counted", k), func(t *testing.T) { r.counted = latency(t, bin, k, true).counted })
		lat = append(lat, r)
	}
	report(fl, tput, lat, ks[0])
}

// median is the round with the median rate, with the range of the rates
// and the rows counted in the first round.
func median(rs []throughputResult) throughputResult {
	if len(rs) == 0 {
		return throughputResult{}
	}
	rows := rs[0].rows
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b throughputResult) int { return cmp.Compare(a.rate, b.rate) })
	m := s[len(s)/2]
	m.rows, m.rateRange = rows, [2]float64{s[0].rate, s[len(s)-1].rate}
	return m
}

func ints(t *testing.T, s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("%q: want positive numbers, comma-separated", s)
		}
		out = append(out, n)
	}
	return out
}

// build compiles cmd/runbook once for every worker process.
func build(t *testing.T) string {
	if *runbookBin != "" {
		return *runbookBin
	}
	bin := filepath.Join(t.TempDir(), "runbook")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/runbookhq/runbook/cmd/runbook")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// floor is how fast this machine forks and waits for processes that exit
// at once: the ceiling of any executor of `true` steps.
type floor struct {
	trueSeq, bashSeq, bashPar float64 // processes per second
	par                       int
}

// measureFloor forks `true`, and the local executor's command line for a
// `true` step (bash --noprofile --norc -e -o pipefail -c true), one after
// another and from 2×GOMAXPROCS goroutines at once.
func measureFloor(t *testing.T) floor {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	tru, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	script := []string{bash, "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", "true"}
	rate := func(par int, argv []string) float64 {
		n := *floorN
		var wg sync.WaitGroup
		next := make(chan struct{}, n)
		for range n {
			next <- struct{}{}
		}
		close(next)
		start := time.Now()
		for range par {
			wg.Go(func() {
				for range next {
					if err := exec.Command(argv[0], argv[1:]...).Run(); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	par := 2 * runtime.GOMAXPROCS(0)
	return floor{trueSeq: rate(1, []string{tru}), bashSeq: rate(1, script), bashPar: rate(par, script), par: par}
}

// rig is one fresh database with a tenant whose plan admits everything at
// once, and the worker processes on it.
type rig struct {
	t         *testing.T
	bin       string
	url       string // direct
	workerURL string // through the proxy in a counted pass
	st        *postgres.Store
	conn      *pgx.Conn // the bench's own queries
	tenant    int64
	px        *proxy
	workers   []*worker
}

func newRig(t *testing.T, bin string, counted bool) *rig {
	ctx := context.Background()
	u := testdb.New(t)
	// The bench's own connections are named, so their CPU is not counted
	// as the workers' cost.
	mine, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := mine.Query()
	q.Set("application_name", benchApp)
	mine.RawQuery = q.Encode()
	st, err := postgres.Open(ctx, mine.String()) // migrates
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conn, err := pgx.Connect(ctx, mine.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tn, err := st.CreateTenant(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutPlan(ctx, quota.Plan{Name: tenantPlan, Minutes: 1 << 40, MaxConcurrent: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPlan(ctx, tn.ID, tenantPlan); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, bin: bin, url: u, workerURL: u, st: st, conn: conn, tenant: tn.ID}
	if counted {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		r.px = startProxy(t, pu.Host)
		pu.Host = r.px.addr()
		q := pu.Query()
		q.Set("sslmode", "disable")
		pu.RawQuery = q.Encode()
		r.workerURL = pu.String()
	}
	return r
}

type worker struct {
	id   string
	cmd  *exec.Cmd
	logf string
	done chan struct{}
}

func (r *rig) startWorkers(k int) {
	t := r.t
	for i := range k {
		dir := t.TempDir()
		w := &worker{id: fmt.Sprintf("bench-w%d", i+1), logf: filepath.Join(dir, "worker.log"), done: make(chan struct{})}
		f, err := os.Create(w.logf)
		if err != nil {
			t.Fatal(err)
		}
		w.cmd = exec.Command(r.bin, "worker", "--database-url", r.workerURL, "--data-dir", filepath.Join(dir, "data"),
			"--executor", "local", "--id", w.id, "--max-steps", strconv.Itoa(*maxSteps),
			"--lease", lease.String(), "--safety-poll", "5s", "--log-level", "warn",
			// This bench measures claiming and dispatch; bench/run's case e
			// measures what the step sandbox adds.
			"--unsafe-no-sandbox")
		w.cmd.Stdout, w.cmd.Stderr = f, f
		// A bench that dies takes its workers with it.
		w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { w.cmd.Wait(); f.Close(); close(w.done) }()
		t.Cleanup(func() {
			w.cmd.Process.Signal(syscall.SIGCONT)
			w.cmd.Process.Kill()
			<-w.done
		})
		r.workers = append(r.workers, w)
	}
	r.waitFor("the workers to register", time.Minute, func() bool {
		ws, err := r.st.ListWorkers(context.Background(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return len(ws) == k
	})
}

func (r *rig) signalWorkers(sig syscall.Signal) {
	for _, w := range r.workers {
		if err := w.cmd.Process.Signal(sig); err != nil {
			r.t.Fatalf("%s: %v: %v", w.id, sig, err)
		}
	}
}

// stopWorkers shuts the workers down (SIGTERM) and waits for them.
func (r *rig) stopWorkers() {
	r.signalWorkers(syscall.SIGTERM)
	for _, w := range r.workers {
		select {
		case <-w.done:
		case <-time.After(time.Minute):
			r.t.Fatalf("%s did not stop within a minute of SIGTERM\n%s", w.id, w.log())
		}
	}
}

func (w *worker) log() string {
	b, _ := os.ReadFile(w.logf)
	return string(b)
}

// waitFor polls cond until it holds, failing after limit or when a worker
// exits.
func (r *rig) waitFor(what string, limit time.Duration, cond func() bool) {
	deadline := time.Now().Add(limit)
	for !cond() {
		for _, w := range r.workers {
			select {
			case <-w.done:
				r.t.Fatalf("waiting for %s: %s exited\n%s", what, w.id, w.log())
			default:
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func workflowOf(width int) []byte {
	var b strings.Builder
	b.WriteString("name: bench\nsteps:\n")
	for i := range width {
		fmt.Fprintf(&b, "  - {name: s%d, command: \"true\"}\n", i)
	}
	return []byte(b.String())
}

func (r *rig) submit(src []byte, committed func()) int64 {
	run, err := r.st.CreateAndAdmit(context.Background(), store.NewRun{TenantID: r.tenant, File: ".runbook.yml", Source: src, Trigger: "api", Committed: committed})
	if err != nil {
		r.t.Fatal(err)
	}
	return run.ID
}

// outstanding counts commands not done and runs not ended.
func (r *rig) outstanding() int {
	var n int
	err := r.conn.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM outbox WHERE done_at IS NULL) +
		(SELECT count(*) FROM runs WHERE status NOT IN ('succeeded', 'failed', 'cancelled'))`).Scan(&n)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *rig) checkSucceeded(runs int) {
	var ok, all int
	if err := r.conn.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FROM runs`).Scan(&ok, &all); err != nil {
		r.t.Fatal(err)
	}
	if ok != runs || all != runs {
		r.t.Fatalf("%d of %d runs succeeded, want %d", ok, all, runs)
	}
}

// stepTimes are one step's recorded instants, all from this machine's clock.
type stepTimes struct {
	runID                     int64
	enqueued, claimed         time.Time // outbox created_at; lease_until − lease
	started, finished, doneAt time.Time // steps started_at (StepStarted), finished_at (StepExited); outbox done_at
	claims                    int
}

func (r *rig) stepTimes() []stepTimes {
	rows, err := r.conn.Query(context.Background(), `SELECT o.run_id, o.created_at, o.lease_until, o.claims, s.started_at, s.finished_at, o.done_at
		FROM outbox o JOIN steps s ON s.run_id = o.run_id AND s.name = o.step
		WHERE o.kind = 'start_step' ORDER BY o.id`)
	if err != nil {
		r.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (stepTimes, error) {
		var s stepTimes
		var leaseUntil time.Time
		err := row.Scan(&s.runID, &s.enqueued, &leaseUntil, &s.claims, &s.started, &s.finished, &s.doneAt)
		s.claimed = leaseUntil.Add(-lease)
		return s, err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// balance is the fewest and most steps one of the k workers ran, and the
// time from the first worker's last finished command to end.
func (r *rig) balance(k int, end time.Time) (share [2]int, tail time.Duration) {
	rows, err := r.conn.Query(context.Background(), `SELECT count(*) FILTER (WHERE kind = 'start_step'), max(done_at)
		FROM outbox GROUP BY claimed_by`)
	if err != nil {
		r.t.Fatal(err)
	}
	type w struct {
		n    int
		last time.Time
	}
	ws, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (w, error) {
		var x w
		return x, row.Scan(&x.n, &x.last)
	})
	if err != nil {
		r.t.Fatal(err)
	}
	share = [2]int{ws[0].n, ws[0].n}
	first := ws[0].last
	for _, x := range ws {
		share = [2]int{min(share[0], x.n), max(share[1], x.n)}
		if x.last.Before(first) {
			first = x.last
		}
	}
	if len(ws) < k {
		share[0], first = 0, time.Time{} // a worker ran nothing
	}
	if first.IsZero() {
		return share, 0
	}
	return share, end.Sub(first)
}

// dbStats are the database's counters in pg_stat_database.
type dbStats struct{ commits, rollbacks, ins, upd, del int64 }

func (r *rig) dbStats() dbStats {
	var s dbStats
	// A fresh snapshot each time: within a transaction the view is frozen.
	if _, err := r.conn.Exec(context.Background(), `SELECT pg_stat_clear_snapshot()`); err != nil {
		r.t.Fatal(err)
	}
	err := r.conn.QueryRow(context.Background(), `SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&s.commits, &s.rollbacks, &s.ins, &s.upd, &s.del)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// settledStats waits until the row counters stop moving for quiet: a
// backend reports its counters when idle, up to 10 s late (Postgres 15+),
// or when it exits.
func (r *rig) settledStats(quiet time.Duration) dbStats {
	last := r.dbStats()
	since := time.Now()
	deadline := time.Now().Add(quiet + time.Minute)
	for time.Since(since) < quiet {
		if time.Now().After(deadline) {
			r.t.Fatal("pg_stat_database did not settle")
		}
		time.Sleep(250 * time.Millisecond)
		s := r.dbStats()
		if s.ins != last.ins || s.upd != last.upd || s.del != last.del {
			last, since = s, time.Now()
		}
	}
	return last
}

type throughputResult struct {
	k, width, steps int
	rate            float64          // steps per second
	rateRange       [2]float64       // slowest and fastest of the timed rounds
	claimStart      [2]time.Duration // p50, p99 of claim → step_started under the backlog
	startExit       [2]time.Duration
	rows            float64 // rows inserted+updated+deleted per step
	reclaimed       int
	share           [2]int        // fewest and most steps one worker ran
	tail            time.Duration // from the first worker's last command done to the last
	cpu             cpuCost       // per step, timed pass
	counted         counts
	load            string
}

// throughput puts steps/width runs of width independent `true` steps in
// the queue while the k workers are stopped (SIGSTOP), then lets them go
// and times until every command is done.
func throughput(t *testing.T, bin string, k, width int, counted, rows bool) throughputResult {
	r := newRig(t, bin, counted)
	r.startWorkers(k)
	r.signalWorkers(syscall.SIGSTOP)
	runs := *nSteps / width
	src := workflowOf(width)
	for range runs {
		r.submit(src, nil)
	}
	res := throughputResult{k: k, width: width, steps: runs * width}
	var before dbStats
	var pxBefore counts
	if counted {
		pxBefore = r.px.snapshot()
	} else if rows {
		// Every write so far (the queue, the workers' start) reported.
		before = r.settledStats(11 * time.Second)
	}
	cpu0 := r.cpu()
	go0 := time.Now()
	r.signalWorkers(syscall.SIGCONT)
	r.waitFor("the queue to drain", 10*time.Minute, func() bool { return r.outstanding() == 0 })
	cpu1 := r.cpu()
	if counted {
		res.counted = r.px.snapshot().minus(pxBefore)
		if n := r.px.opaque.Load(); n > 0 {
			t.Fatalf("%d connections through the proxy asked for encryption", n)
		}
	}
	r.checkSucceeded(runs)
	var end time.Time
	if err := r.conn.QueryRow(context.Background(), `SELECT max(done_at) FROM outbox`).Scan(&end); err != nil {
		t.Fatal(err)
	}
	res.rate = float64(res.steps) / end.Sub(go0).Seconds()
	var cs, se []time.Duration
	for _, s := range r.stepTimes() {
		cs = append(cs, s.started.Sub(s.claimed))
		se = append(se, s.finished.Sub(s.started))
		if s.claims != 1 {
			res.reclaimed++
		}
	}
	res.claimStart, res.startExit = stats.P50P99(cs), stats.P50P99(se)
	res.share, res.tail = r.balance(k, end)
	res.cpu = cpu1.since(cpu0).per(res.steps)
	r.stopWorkers()
	if rows {
		after := r.settledStats(1500 * time.Millisecond)
		res.rows = float64((after.ins-before.ins)+(after.upd-before.upd)+(after.del-before.del)) / float64(res.steps)
	}
	res.load = stats.Loadavg()
	t.Logf("k=%d width=%d: %.1f steps/s, claim→started p50/p99 %v/%v, rows/step %.1f, cpu/step %+v, counted %+v, load %s",
		k, width, res.rate, res.claimStart[0], res.claimStart[1], res.rows, res.cpu, res.counted, res.load)
	return res
}

type latencyResult struct {
	k                                  int
	commitClaim, claimStart, startExit [2]time.Duration
	cpu                                cpuCost // per step, timed pass
	counted                            counts
	load                               string
}

// latency submits one-step runs one after another, each once the last is
// fully done, so every claim finds the k workers idle.
func latency(t *testing.T, bin string, k int, counted bool) latencyResult {
	r := newRig(t, bin, counted)
	r.startWorkers(k)
	var pxBefore counts
	if counted {
		// Let the workers' start-up statements pass.
		last := r.px.snapshot()
		since := time.Now()
		r.waitFor("the workers to fall quiet", time.Minute, func() bool {
			if s := r.px.snapshot(); s != last {
				last, since = s, time.Now()
			}
			return time.Since(since) > 500*time.Millisecond
		})
		pxBefore = r.px.snapshot()
	}
	src := workflowOf(1)
	committed := map[int64]time.Time{}
	cpu0 := r.cpu()
	for range *samples {
		var at time.Time
		id := r.submit(src, func() { at = time.Now() })
		committed[id] = at
		r.waitFor("the run to end and its commands to be done", time.Minute, func() bool { return r.outstanding() == 0 })
	}
	res := latencyResult{k: k, cpu: r.cpu().since(cpu0).per(*samples)}
	if counted {
		res.counted = r.px.snapshot().minus(pxBefore)
	}
	r.checkSucceeded(*samples)
	var cc, cs, se []time.Duration
	for _, s := range r.stepTimes() {
		cc = append(cc, s.claimed.Sub(committed[s.runID]))
		cs = append(cs, s.started.Sub(s.claimed))
		se = append(se, s.finished.Sub(s.started))
	}
	res.commitClaim, res.claimStart, res.startExit = stats.P50P99(cc), stats.P50P99(cs), stats.P50P99(se)
	r.stopWorkers()
	res.load = stats.Loadavg()
	t.Logf("k=%d: commit→claim %v/%v, claim→started %v/%v, started→exited %v/%v, cpu/step %+v, counted %+v, load %s",
		k, res.commitClaim[0], res.commitClaim[1], res.claimStart[0], res.claimStart[1], res.startExit[0], res.startExit[1], res.cpu, res.counted, res.load)
	return res
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

func report(fl floor, tput []throughputResult, lat []latencyResult, base int) {
	p := func(format string, a ...any) { fmt.Printf(format, a...) }
	p("\nfloor (fork+exec+wait from Go, %d each): /bin/true sequential %.0f/s; bash -c true sequential %.0f/s; bash -c true %d at once %.0f/s\n",
		*floorN, fl.trueSeq, fl.bashSeq, fl.par, fl.bashPar)
	baseOf := func(r throughputResult) throughputResult {
		for _, x := range tput {
			if x.width == r.width && x.k == base {
				return x
			}
		}
		return r
	}
	p("\nthroughput: %d `true` steps queued while the workers are stopped, then released; --max-steps %d each;\nmedian of %d rounds by steps/s, the other columns from that round (ms: p50 / p99)\n", *nSteps, *maxSteps, *rounds)
	p("%-5s %2s | %8s %-13s %6s %6s %6s | %-17s | %-15s | %-9s %8s | %s\n",
		"width", "k", "steps/s", "(range)", "×k=b", "÷seq", "÷par", "claim→start", "start→exit", "steps/wkr", "tail ms", "load 1/5/15")
	for _, r := range tput {
		b := baseOf(r)
		p("%-5d %2d | %8.1f %-13s %6.2f %6.2f %6.2f | %7s / %7s | %6s / %6s | %4d-%-4d %8.0f | %s",
			r.width, r.k, r.rate, fmt.Sprintf("(%.0f-%.0f)", r.rateRange[0], r.rateRange[1]), r.rate/b.rate, r.rate/fl.bashSeq, r.rate/fl.bashPar,
			ms(r.claimStart[0]), ms(r.claimStart[1]), ms(r.startExit[0]), ms(r.startExit[1]),
			r.share[0], r.share[1], float64(r.tail)/1e6, r.load)
		if r.reclaimed > 0 {
			p("  (%d commands claimed more than once)", r.reclaimed)
		}
		p("\n")
	}
	p("\ncost per step of the throughput phase (CPU ms: the worker processes, the step processes they ran, the Postgres backends)\n")
	p("%-5s %2s | %6s %6s %6s %6s %6s | %6s %6s %6s | %8s %8s\n", "width", "k", "stmt", "xact", "wakes", "notif", "rows", "cpu wk", "steps", "pg", "stmt×k=b", "cpu×k=b")
	for _, r := range tput {
		b := baseOf(r)
		n := float64(r.steps)
		p("%-5d %2d | %6.1f %6.1f %6.2f %6.2f %6.1f | %6s %6s %6s | %8.2f %8.2f\n", r.width, r.k,
			float64(r.counted.stmts)/n, float64(r.counted.txns)/n, float64(r.counted.wakes)/n, float64(r.counted.notifies)/n, r.rows,
			ms(r.cpu.worker), ms(r.cpu.steps), ms(r.cpu.pg),
			float64(r.counted.stmts)/float64(b.counted.stmts), float64(r.cpu.worker+r.cpu.pg)/float64(b.cpu.worker+b.cpu.pg))
	}
	p("\nlatency: %d one-step runs one after another, workers idle (ms: p50 / p99; per step: counts and CPU ms)\n", *samples)
	p("%2s | %-15s | %-15s | %-15s | %6s %6s %6s %6s | %6s %6s | %8s %8s | %-11s | %s\n", "k", "commit→claim", "claim→start", "start→exit",
		"stmt", "xact", "wakes", "notif", "cpu wk", "pg", "stmt×k=b", "cpu×k=b", "c→s p50×k=b", "load 1/5/15")
	var b latencyResult
	for _, x := range lat {
		if x.k == base {
			b = x
		}
	}
	for _, r := range lat {
		n := float64(*samples)
		p("%2d | %6s / %6s | %6s / %6s | %6s / %6s | %6.1f %6.1f %6.2f %6.2f | %6s %6s | %8.2f %8.2f | %11.2f | %s\n", r.k,
			ms(r.commitClaim[0]), ms(r.commitClaim[1]), ms(r.claimStart[0]), ms(r.claimStart[1]), ms(r.startExit[0]), ms(r.startExit[1]),
			float64(r.counted.stmts)/n, float64(r.counted.txns)/n, float64(r.counted.wakes)/n, float64(r.counted.notifies)/n, ms(r.cpu.worker), ms(r.cpu.pg),
			float64(r.counted.stmts)/float64(b.counted.stmts), float64(r.cpu.worker+r.cpu.pg)/float64(b.cpu.worker+b.cpu.pg),
			float64(r.commitClaim[0]+r.claimStart[0])/float64(b.commitClaim[0]+b.claimStart[0]), r.load)
	}
	p(`
steps/s: steps ÷ (last outbox done_at − SIGCONT); ×k=b: ÷ the same width at the base worker count;
÷seq, ÷par: ÷ the bash floor sequential / in parallel. commit: the submitting transaction's commit
(CreateAndAdmit's Committed hook); claim: lease_until − lease (the claimer's clock just before its
claim transaction); start: steps.started_at (StepStarted, before the fork); exit: steps.finished_at.
A worker claims no more steps than it has free slots. steps/wkr: fewest-most steps one worker ran; tail: from the first worker's
last command done to the last one's. stmt/xact/notif: counted by a wire-protocol proxy in a second
pass (statements without BEGIN/COMMIT; transactions; NOTIFYs delivered on the outbox channel, and
on all channels with the event-bus relay), including the workers' periodic work; rows: pg_stat_database tup_inserted+updated+deleted (timed pass, with the workers'
shutdown); cpu: /proc utime+stime of the workers, cutime+cstime (the steps they waited for), and of
the database's backends (10 ms ticks), over the timed phase. cpu×k=b: worker+pg. c→s: commit→start.
`)
}

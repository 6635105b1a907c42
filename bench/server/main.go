// Command server measures a running `runbook server` on SQLite and on
// Postgres (issue 3, point 9): dispatch latency, 500 SSE followers of a
// 100,000-line step, wrk on GET run, and idle RSS. Run it with
// bench/server.sh, which builds the binary and installs wrk.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/runbookhq/runbook/bench/stats"
)

type options struct {
	bin, wrk, adminURL         string
	runs, steps                int
	followers, lines, wrkConns int
	wrkDuration, followLimit   time.Duration
}

// notes are printed under the table.
var notes []string

// row is one line of the report.
type row struct {
	store, measure, floor, result, ratio, target, verdict string
}

func main() {
	var o options
	stores := flag.String("stores", "sqlite,postgres", "stores to measure, comma-separated")
	flag.StringVar(&o.bin, "runbook", "", "path of the runbook binary to measure")
	flag.StringVar(&o.wrk, "wrk", "wrk", "path of wrk")
	flag.StringVar(&o.adminURL, "postgres", envOr("RUNBOOK_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"Postgres server to create the bench database on (env RUNBOOK_TEST_DATABASE_URL)")
	flag.IntVar(&o.runs, "runs", 20, "dispatch: chain runs")
	flag.IntVar(&o.steps, "steps", 20, "dispatch: steps per chain")
	flag.IntVar(&o.followers, "followers", 500, "SSE followers of one step")
	flag.IntVar(&o.lines, "lines", 100000, "lines the followed step prints")
	flag.IntVar(&o.wrkConns, "wrk-conns", 200, "wrk connections")
	flag.DurationVar(&o.wrkDuration, "wrk-duration", 10*time.Second, "how long wrk loads GET run (whole seconds)")
	flag.DurationVar(&o.followLimit, "follow-limit", 150*time.Second, "give up on the followers after this long")
	flag.Parse()
	if o.bin == "" {
		fmt.Fprintln(os.Stderr, "usage: server -runbook PATH [-stores sqlite,postgres] [flags]; see bench/server.sh")
		os.Exit(2)
	}
	if _, err := exec.LookPath(o.wrk); err != nil {
		fmt.Fprintf(os.Stderr, "wrk not found (%v): install it with apt-get install -y wrk, or pass -wrk PATH\n", err)
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "runbook-server-bench-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)

	var rows []row
	var problems []string
	for _, st := range strings.Split(*stores, ",") {
		r, errs := benchStore(o, st, filepath.Join(tmp, st))
		rows = append(rows, r...)
		for _, e := range errs {
			problems = append(problems, st+": "+e.Error())
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tmeasure\tfloor\tresult\tratio\ttarget\tverdict\t")
	failed := len(problems) > 0
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.store, r.measure, r.floor, r.result, r.ratio, r.target, r.verdict)
		failed = failed || r.verdict == "MISSED"
	}
	tw.Flush()
	fmt.Printf("(dispatch: %d chains of %d `true` steps, from event timestamps; follow: %d SSE followers of %d lines,\n"+
		" floor = the same step with no follower; wrk: %d connections for %s, floor = GET /healthz)\n",
		o.runs, o.steps, o.followers, o.lines, o.wrkConns, o.wrkDuration)
	for _, n := range notes {
		fmt.Println(n)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "error:", p)
	}
	if failed {
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// benchStore starts one server on the store and measures it. A phase that
// fails is reported and the next one still runs.
func benchStore(o options, st, dir string) (rows []row, errs []error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, []error{err}
	}
	var extra []string
	switch st {
	case "sqlite":
	case "postgres":
		dbURL, drop, err := createDatabase(o.adminURL)
		if errors.Is(err, errNoPostgres) && os.Getenv("CI") != "true" {
			notes = append(notes, fmt.Sprintf("postgres: skipped: %v", err))
			return []row{{store: st, measure: "all", verdict: "skipped: no Postgres"}}, nil
		}
		if err != nil {
			return nil, []error{err}
		}
		defer func() {
			if err := drop(); err != nil {
				errs = append(errs, err)
			}
		}()
		extra = []string{"--database-url", dbURL}
		// The secret goes through the environment, so it shows in no
		// process list.
		os.Setenv("RUNBOOK_SECRET", randomHex(24))
		defer os.Unsetenv("RUNBOOK_SECRET")
	default:
		return nil, []error{fmt.Errorf("unknown store %q: want sqlite or postgres", st)}
	}
	srv, err := startServer(o.bin, dir, extra...)
	if err != nil {
		return nil, []error{err}
	}
	defer func() {
		if err := srv.stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the server: %w", err))
		}
	}()
	add := func(r row) { r.store = st; rows = append(rows, r) }
	if rss, _, err := srv.memory(); err == nil {
		add(row{measure: "RSS at start-up", floor: "—", result: mb(rss), ratio: "—", target: "< 40 MB", verdict: verdict(rss < 40)})
	}
	c := newClient(srv.base)
	if err := c.signIn(); err != nil {
		return rows, []error{err}
	}
	fail := func(measure string, err error) {
		add(row{measure: measure, verdict: "ERROR"})
		errs = append(errs, fmt.Errorf("%s: %w (server log: %s)", measure, err, srv.logPath))
	}

	// 4. Idle RSS after start-up and one run: idle means nothing has
	// happened for idleFor, so work that ends by itself (the account
	// service returns argon2id's memory a second after a login) has ended.
	const idleFor = 2 * time.Second
	if err := oneRun(c); err != nil {
		fail("idle RSS", err)
	} else if rss, _, err := srv.memoryAfter(idleFor); err != nil {
		fail("idle RSS", err)
	} else {
		add(row{measure: "idle RSS 2 s after sign-in + 1 run", floor: "—", result: mb(rss), ratio: "—", target: "< 40 MB", verdict: verdict(rss < 40)})
	}

	// 1. Dispatch latency.
	var runID int64
	if d, err := measureDispatch(c, o.runs, o.steps); err != nil {
		fail("dispatch", err)
	} else {
		runID = d.lastRun
		for _, s := range []struct {
			name string
			xs   []time.Duration
		}{{"POST sent → 1st step_started", d.trigger}, {"step_exited → next started", d.handoff}} {
			p50, p99 := stats.Percentile(s.xs, 50), stats.Percentile(s.xs, 99)
			add(row{measure: s.name + " p50", floor: "—", result: ms(p50), ratio: "—", target: "≤ 5 ms", verdict: verdict(p50 <= 5*time.Millisecond)})
			add(row{measure: s.name + " p99", floor: "—", result: ms(p99), ratio: "—", target: "≤ 25 ms", verdict: verdict(p99 <= 25*time.Millisecond)})
		}
		notes = append(notes, fmt.Sprintf("%s: %d of %d first steps started before their POST had returned", st, d.early, len(d.trigger)))
	}

	// 2. Followers.
	if floor, err := measurePrint(c, o.lines, o.followLimit); err != nil {
		fail("follow", err)
	} else {
		cpu0, _ := srv.cpu()
		f, err := measureFollow(c, dir, o.followers, o.lines, o.followLimit)
		if cpu1, cerr := srv.cpu(); cerr == nil {
			notes = append(notes, fmt.Sprintf("%s: the server used %.1f s of CPU while serving the followers", st, (cpu1-cpu0).Seconds()))
		}
		if err != nil {
			fail("follow", err)
		}
		if f.delivered > 0 {
			add(row{measure: fmt.Sprintf("%d followers get all %d lines", o.followers, o.lines), floor: ms(floor), result: ms(f.delivered),
				ratio: fmt.Sprintf("%.1f×", float64(f.delivered)/float64(floor)), target: "all, in order", verdict: verdict(err == nil)})
			add(row{measure: "  print step with followers", floor: ms(floor), result: ms(f.printed),
				ratio: fmt.Sprintf("%.1f×", float64(f.printed)/float64(floor)), target: "—", verdict: "—"})
		}
		if _, hwm, err := srv.memory(); err != nil {
			fail("follow peak RSS", err)
		} else {
			add(row{measure: "  server peak RSS (VmHWM)", floor: "—", result: mb(hwm), ratio: "—", target: "< 200 MB", verdict: verdict(hwm < 200)})
		}
	}

	// 3. wrk on GET run, against GET /healthz on the same server.
	if runID == 0 {
		return rows, errs
	}
	floor, err := runWrk(o.wrk, srv.base+"/healthz", "", o.wrkConns, o.wrkDuration/2)
	if err != nil {
		fail("wrk /healthz", err)
		return rows, errs
	}
	w, err := runWrk(o.wrk, srv.base+c.runPath(runID), c.token, o.wrkConns, o.wrkDuration)
	if err != nil {
		fail("wrk GET run", err)
		return rows, errs
	}
	add(row{measure: fmt.Sprintf("wrk GET run p99 (%.0f req/s)", w.rps), floor: ms(floor.p99), result: ms(w.p99),
		ratio: fmt.Sprintf("%.1f×", float64(w.p99)/float64(floor.p99)), target: "< 50 ms", verdict: verdict(w.p99 < 50*time.Millisecond)})
	add(row{measure: "  wrk GET run p50", floor: ms(floor.p50), result: ms(w.p50),
		ratio: fmt.Sprintf("%.1f×", float64(w.p50)/float64(floor.p50)), target: "—", verdict: "—"})
	return rows, errs
}

// oneRun runs a one-step workflow to its end.
func oneRun(c *client) error {
	id, _, err := c.createRun("name: one\nsteps:\n  - name: one\n    command: \"true\"\n")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, status, err := c.waitRun(ctx, id)
	if err == nil && status != "succeeded" {
		err = fmt.Errorf("run %d ended %s, want succeeded", id, status)
	}
	return err
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
func mb(m float64) string       { return fmt.Sprintf("%.1f MB", m) }

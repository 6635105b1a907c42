// Package quota measures admission against a long line (issue 5, point 8):
// one tenant on a one-at-once plan has 100, then 1,000, then 10,000 runs
// pending, on SQLite and on Postgres. At each length it times
//
//   - promotion: the Apply that finishes the running run and, in the same
//     transaction, admits the head of the line (target: p99 < 10 ms);
//   - admission: CreateAndAdmit of a run that joins the end of the line;
//   - other tenant: CreateAndAdmit of another tenant's run, which must be
//     admitted at once and cost the same whatever the first line's length
//     (point 5, fairness).
//
// Lengths side by side show whether a cost grows with the line. Run it
// alone (it measures latency on a shared machine):
//
//	go test ./bench/quota -run TestQuotaBench -v -count=1 -timeout 30m -args -quota [-stores sqlite,postgres] [-samples 500]
//
// Postgres gets a fresh database from internal/testdb (127.0.0.1:5432 or
// RUNBOOK_TEST_DATABASE_URL); with none reachable that store is skipped,
// except under CI=true. The test fails when a promotion p99 misses 10 ms.
package quota

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/bench/stats"
	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/sqlite"
	"github.com/runbookhq/runbook/internal/testdb"
)

var (
	enabled = flag.Bool("quota", false, "run the quota benchmark")
	stores  = flag.String("stores", "sqlite,postgres", "stores to measure, comma-separated")
	lengths = flag.String("lines", "100,1000,10000", "line lengths, increasing, comma-separated")
	samples = flag.Int("samples", 500, "timed operations of each kind at each length")
)

// target is the p99 of a promotion (issue 5, point 8).
const target = 10 * time.Millisecond

const oneStep = "name: one\nsteps:\n  - name: one\n    command: \"true\"\n"

func open(t *testing.T, name string) store.Store {
	ctx := context.Background()
	var (
		s   store.Store
		err error
	)
	switch name {
	case "sqlite":
		s, err = sqlite.Open(ctx, t.TempDir())
	case "postgres":
		s, err = postgres.Open(ctx, testdb.New(t))
	default:
		t.Fatalf("unknown store %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// row is one line of the table: p50 and p99 of each timed operation.
type row struct {
	store                   string
	line                    int
	promote, admit, another [2]time.Duration
	load                    string
}

func TestQuotaBench(t *testing.T) {
	if !*enabled {
		t.Skip("a benchmark: run with -args -quota (see the package comment)")
	}
	var ns []int
	for _, f := range strings.Split(*lengths, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(ns) > 0 && n <= ns[len(ns)-1]) {
			t.Fatalf("-lines %q: want increasing positive numbers", *lengths)
		}
		ns = append(ns, n)
	}
	var rows []row
	for _, name := range strings.Split(*stores, ",") {
		t.Run(name, func(t *testing.T) { rows = append(rows, measure(t, name, ns)...) })
	}
	fmt.Printf("\n%-8s %7s | %-17s | %-17s | %-17s | %s\n", "store", "pending", "promote p50/p99", "admit p50/p99", "other p50/p99", "load (1/5/15 min)")
	for _, r := range rows {
		fmt.Printf("%-8s %7d | %s | %s | %s | %s\n", r.store, r.line, ms(r.promote), ms(r.admit), ms(r.another), r.load)
	}
	fmt.Println("\npromote: Apply(StepExited) of the running run, which admits the head of the line; target p99 < 10 ms")
	fmt.Println("admit: CreateAndAdmit of a run joining the line; other: CreateAndAdmit of another tenant's run (admitted)")
	for _, r := range rows {
		if r.promote[1] >= target {
			t.Errorf("%s with %d pending: promotion p99 %v, target < %v", r.store, r.line, r.promote[1], target)
		}
	}
}

func ms(q [2]time.Duration) string {
	return fmt.Sprintf("%7.2f / %7.2f", float64(q[0])/1e6, float64(q[1])/1e6)
}

// measure grows one tenant's line to each length in turn and times the
// three operations there.
func measure(t *testing.T, name string, lengths []int) []row {
	ctx := context.Background()
	s := open(t, name)
	busy, err := s.CreateTenant(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutPlan(ctx, quota.Plan{Name: "solo", Minutes: 1 << 40, MaxConcurrent: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPlan(ctx, busy.ID, "solo"); err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateTenant(ctx, "other") // on the default plan
	if err != nil {
		t.Fatal(err)
	}
	running := request(t, s, busy.ID).ID
	pending := 0
	var rows []row
	for _, n := range lengths {
		t0 := time.Now()
		for ; pending < n; pending++ {
			request(t, s, busy.ID)
		}
		t.Logf("%s: %d pending (filled in %v)", name, n, time.Since(t0).Round(time.Millisecond))
		check(t, s, busy.ID, 1, n)
		var promote, admit, another []time.Duration
		for range *samples {
			// Admission: the line grows to n+1.
			t0 := time.Now()
			r := request(t, s, busy.ID)
			admit = append(admit, time.Since(t0))
			if r.Admission != quota.Pending {
				t.Fatalf("a run joined the line as %s", r.Admission)
			}
			// Promotion: the running run ends, the head starts; back to n.
			apply(t, s, running, engine.Event{Kind: engine.StepStarted, Step: "one", Attempt: 1})
			head := headOf(t, s, busy.ID)
			t0 = time.Now()
			apply(t, s, running, engine.Event{Kind: engine.StepExited, Step: "one", Attempt: 1})
			promote = append(promote, time.Since(t0))
			if r := get(t, s, busy.ID, head); r.Status != engine.RunRunning || r.Admission != quota.Admitted {
				t.Fatalf("the head of the line after a finish: %s/%s", r.Status, r.Admission)
			}
			running = head
			// Another tenant: admitted at once, then finished (untimed).
			t0 = time.Now()
			o := request(t, s, other.ID)
			another = append(another, time.Since(t0))
			if o.Admission != quota.Admitted {
				t.Fatalf("another tenant's run waits (%s) behind %d pending runs", o.Admission, n)
			}
			apply(t, s, o.ID, engine.Event{Kind: engine.StepStarted, Step: "one", Attempt: 1})
			apply(t, s, o.ID, engine.Event{Kind: engine.StepExited, Step: "one", Attempt: 1})
		}
		check(t, s, busy.ID, 1, n)
		rows = append(rows, row{store: name, line: n, promote: stats.P50P99(promote), admit: stats.P50P99(admit),
			another: stats.P50P99(another), load: stats.Loadavg()})
	}
	return rows
}

func request(t *testing.T, s store.Store, tenant int64) store.Run {
	r, err := s.CreateAndAdmit(context.Background(), store.NewRun{TenantID: tenant, File: ".runbook.yml", Source: []byte(oneStep), Trigger: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func apply(t *testing.T, s store.Store, run int64, e engine.Event) {
	if _, _, err := s.Apply(context.Background(), run, e); err != nil {
		t.Fatalf("%s on run %d: %v", e.Kind, run, err)
	}
}

func get(t *testing.T, s store.Store, tenant, run int64) store.Run {
	r, err := s.GetRun(context.Background(), tenant, run)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func headOf(t *testing.T, s store.Store, tenant int64) int64 {
	u, err := s.Usage(context.Background(), tenant)
	if err != nil || len(u.Queue) == 0 {
		t.Fatalf("reading the queue: %+v, %v", u, err)
	}
	return u.Queue[0]
}

// check asserts the tenant's standing: the limit holds and no run is lost.
func check(t *testing.T, s store.Store, tenant int64, running, pending int) {
	u, err := s.Usage(context.Background(), tenant)
	if err != nil || u.Running != running || u.Pending != pending || u.Blocked != 0 {
		t.Fatalf("usage %d running, %d pending, %d blocked (%v); want %d running, %d pending",
			u.Running, u.Pending, u.Blocked, err, running, pending)
	}
}

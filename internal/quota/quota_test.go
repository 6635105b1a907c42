package quota

import (
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestMinutesRoundsUp(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {time.Microsecond, 1}, {60 * time.Second, 1}, {61 * time.Second, 2}, {120 * time.Second, 2}, {-time.Second, 0}} {
		if got := Minutes(t0, t0.Add(c.d)); got != c.want {
			t.Errorf("Minutes(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	if got := Minutes(time.Time{}, t0); got != 0 {
		t.Errorf("an attempt that never started billed %d minutes", got)
	}
}

func TestCycleEndClampsToMonthEnd(t *testing.T) {
	for _, c := range []struct{ start, want string }{
		{"2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z"},
		{"2028-01-31T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"2026-12-15T00:00:00Z", "2027-01-15T00:00:00Z"},
		{"2026-02-28T00:00:00Z", "2026-03-28T00:00:00Z"},
	} {
		s, _ := time.Parse(time.RFC3339, c.start)
		if got := CycleEnd(s).Format(time.RFC3339); got != c.want {
			t.Errorf("CycleEnd(%s) = %s, want %s", c.start, got, c.want)
		}
	}
}

func TestRolloverCarriesDebt(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a := Account{Plan: Plan{Name: "p", Minutes: 100, MaxConcurrent: 1}, CycleStart: start, Used: 130, Granted: 10}
	if _, changed := Rollover(a, start.Add(24*time.Hour)); changed {
		t.Fatal("rolled over inside the cycle")
	}
	b, changed := Rollover(a, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	if !changed || b.Debt != 20 || b.Used != 0 || b.Granted != 0 || b.Remaining() != 80 {
		t.Fatalf("after one cycle: %+v (remaining %d), want debt 20, remaining 80", b, b.Remaining())
	}
	a.Used = 350 // overshoot 240: more than two cycles' worth
	c, _ := Rollover(a, time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC))
	if c.Debt != 140 || !c.CycleStart.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("after two cycles: %+v, want debt 140 from 2026-05-01", c)
	}
}

func TestNextChecksMinutesBeforeSlots(t *testing.T) {
	a := Account{Plan: Plan{Name: "p", Minutes: 10, MaxConcurrent: 2}}
	if Next(a, 0) != Admit || Next(a, 2) != Wait {
		t.Fatal("with minutes left, a free slot admits and a full tenant waits")
	}
	a.Used = 10
	if Next(a, 0) != Block {
		t.Fatal("without minutes, a free slot must not admit")
	}
	if r := BlockedReason(a); !strings.Contains(r, "quota exhausted: 10 of 10 minutes") {
		t.Fatalf("reason %q", r)
	}
}

// TestRolloverProperty: over any sequence of charges, grants and clock
// moves, the account agrees with a model that keeps the whole history, and
// total debt never exceeds what was ever overspent.
func TestRolloverProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		plan := Plan{Name: "p", Minutes: rapid.Int64Range(0, 500).Draw(t, "minutes"), MaxConcurrent: 1}
		now := time.Date(2026, 1, rapid.IntRange(1, 31).Draw(t, "day"), 0, 0, 0, 0, time.UTC)
		a := Account{Plan: plan, CycleStart: now}
		// model: per cycle (by start), used and granted.
		type cyc struct{ used, granted int64 }
		starts := []time.Time{now}
		cycles := map[time.Time]*cyc{now: {}}
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			now = now.Add(time.Duration(rapid.Int64Range(0, 20*24).Draw(t, "hours")) * time.Hour)
			a, _ = Rollover(a, now)
			for CycleEnd(starts[len(starts)-1]).Compare(now) <= 0 {
				s := CycleEnd(starts[len(starts)-1])
				starts = append(starts, s)
				cycles[s] = &cyc{}
			}
			cur := cycles[starts[len(starts)-1]]
			if rapid.Bool().Draw(t, "grant") {
				g := rapid.Int64Range(0, 100).Draw(t, "granted")
				a.Granted += g
				cur.granted += g
			}
			m := rapid.Int64Range(0, 300).Draw(t, "charged")
			a.Used += m
			cur.used += m
		}
		if !a.CycleStart.Equal(starts[len(starts)-1]) {
			t.Fatalf("cycle start %v, model %v", a.CycleStart, starts[len(starts)-1])
		}
		var debt int64
		for _, s := range starts[:len(starts)-1] {
			c := cycles[s]
			debt = max(0, c.used+debt-plan.Minutes-c.granted)
		}
		cur := cycles[starts[len(starts)-1]]
		if a.Debt != debt || a.Used != cur.used || a.Granted != cur.granted {
			t.Fatalf("account %+v, model debt %d used %d granted %d", a, debt, cur.used, cur.granted)
		}
	})
}

func TestParsePlans(t *testing.T) {
	f, err := ParsePlans("plans.yml", []byte("plans:\n  - {name: free, minutes: 10, max_concurrent: 1}\n  - {name: team, minutes: 5000, max_concurrent: 8}\n"))
	if err != nil || len(f.Plans) != 2 || f.Plans[1] != (Plan{"team", 5000, 8}) {
		t.Fatalf("got %+v, %v", f, err)
	}
	for _, bad := range []string{
		"plans:\n  - {name: x, minutes: 1, max_concurent: 1}\n",
		"plans:\n  - {name: x, minutes: 1, max_concurrent: 0}\n",
		"plans:\n  - {name: x, minutes: 1, max_concurrent: 1}\n  - {name: x, minutes: 2, max_concurrent: 1}\n",
	} {
		if _, err := ParsePlans("plans.yml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "plans.yml") {
			t.Errorf("%q: err %v, want an error naming the file", bad, err)
		}
	}
}

// TestParsePlansBoundedBeforeDecoding: a deep or aliased plans file is
// refused at its position before goccy's Decoder (quadratic in nesting,
// unbounded in alias expansion) reads it.
func TestParsePlansBoundedBeforeDecoding(t *testing.T) {
	for src, want := range map[string]string{
		"plans: " + strings.Repeat("[", 20_000) + "\n":                         "plans.yml:1:71: nesting deeper than 64 levels",
		"x: &p {name: free, minutes: 10, max_concurrent: 1}\nplans:\n  - *p\n": "plans.yml:3:5: aliases (*p) are not allowed",
	} {
		_, err := ParsePlans("plans.yml", []byte(src))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got %v, want %s", err, want)
		}
	}
}

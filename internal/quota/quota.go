// Package quota is the arithmetic of plans, billing cycles and runtime
// minutes, as pure functions: the stores call it inside their admission
// transactions, so both drivers agree and the rules are tested without I/O.
// See docs/adr/0008-quotas.md.
package quota

import (
	"errors"
	"fmt"
	"time"
)

// Plan is what a tenant may use: runtime minutes per billing cycle and
// runs at once.
type Plan struct {
	Name          string `json:"name" yaml:"name"`
	Minutes       int64  `json:"minutes" yaml:"minutes"`               // per cycle
	MaxConcurrent int    `json:"max_concurrent" yaml:"max_concurrent"` // runs admitted at once
}

// DefaultPlan is the plan of a tenant nobody assigned one to.
const DefaultPlan = "free"

// Free is the built-in default plan.
var Free = Plan{Name: DefaultPlan, Minutes: 2000, MaxConcurrent: 2}

// Validate says what is wrong with p, in words a person can act on.
func (p Plan) Validate() error {
	switch {
	case p.Name == "":
		return errors.New("a plan needs a name")
	case p.Minutes < 0:
		return fmt.Errorf("plan %q: minutes per cycle must be 0 or more, not %d", p.Name, p.Minutes)
	case p.MaxConcurrent < 1:
		return fmt.Errorf("plan %q: max_concurrent must be at least 1, not %d", p.Name, p.MaxConcurrent)
	}
	return nil
}

// Account is a tenant's standing in its current cycle.
type Account struct {
	Plan       Plan
	CycleStart time.Time // the current cycle is [CycleStart, CycleEnd(CycleStart))
	Used       int64     // minutes charged this cycle
	Granted    int64     // minutes an admin added this cycle
	Debt       int64     // overshoot carried from earlier cycles
}

// Remaining is plan minutes + grants − used − debt; it may be negative
// (a run that started with minutes left overshot).
func (a Account) Remaining() int64 { return a.Plan.Minutes + a.Granted - a.Used - a.Debt }

// CycleEnd is when the cycle starting at start ends: one calendar month
// later, in UTC. A start on the 31st ends on the last day of a shorter
// month rather than spilling into the next (Go's AddDate would normalize
// 31 Jan + 1 month to 3 Mar).
func CycleEnd(start time.Time) time.Time {
	start = start.UTC()
	y, m, d := start.Date()
	first := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last),
		start.Hour(), start.Minute(), start.Second(), start.Nanosecond(), time.UTC)
}

// Rollover moves a to the cycle that holds now. Each cycle that ends turns
// its overshoot (used + debt − minutes − grants, if positive) into the next
// cycle's debt; used and grants start again at 0. It reports whether
// anything changed.
func Rollover(a Account, now time.Time) (Account, bool) {
	changed := false
	for end := CycleEnd(a.CycleStart); !now.Before(end); end = CycleEnd(a.CycleStart) {
		a.Debt = max(0, -a.Remaining())
		a.Used, a.Granted, a.CycleStart = 0, 0, end
		changed = true
	}
	return a, changed
}

// Minutes bills one step attempt: ceil((finished − started) / 1m), so a
// 61-second step bills 2. An attempt that never started, or whose clock
// went backwards, bills nothing.
func Minutes(started, finished time.Time) int64 {
	if started.IsZero() || !finished.After(started) {
		return 0
	}
	d := finished.Sub(started)
	return int64((d + time.Minute - 1) / time.Minute)
}

// Admission is where a requested run stands with respect to its tenant's
// limits. A pending or blocked run's engine status is still queued.
type Admission string

// The admissions.
const (
	Admitted Admission = "admitted" // RunRequested applied: it holds a slot until it ends
	Pending  Admission = "pending"  // waits for a slot, first in first out
	Blocked  Admission = "blocked"  // waits for minutes (a new cycle or a grant)
)

// Decision is what to do with the head of a tenant's line.
type Decision int

// The decisions of Next.
const (
	Wait  Decision = iota // no free slot: the line stays as it is
	Admit                 // admit the head of the line
	Block                 // no minutes: every waiting run becomes blocked
)

// Next decides for the head of the line, given the tenant's account and
// how many of its runs hold a slot. Minutes are checked first: a run never
// starts without minutes, whatever slots are free.
func Next(a Account, active int) Decision {
	if a.Remaining() <= 0 {
		return Block
	}
	if active < a.Plan.MaxConcurrent {
		return Admit
	}
	return Wait
}

// BlockedReason is the reason recorded on a blocked run.
func BlockedReason(a Account) string {
	return fmt.Sprintf("quota exhausted: %d of %d minutes used this cycle", a.Used+a.Debt, a.Plan.Minutes+a.Granted)
}

// PendingReason is the reason recorded on a pending run.
func PendingReason(a Account) string {
	return fmt.Sprintf("waiting for a free slot: the %s plan runs %d at once", a.Plan.Name, a.Plan.MaxConcurrent)
}

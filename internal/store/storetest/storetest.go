// Package storetest is the one behavioural test suite every store.Store
// driver must pass (like river's riverdrivertest). A driver's tests call Run
// and Bench with a way to make fresh storage.
package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/store"
)

// Opener opens a Store on one storage. Each call is a new connection to the
// same data, so a test can close a store and reopen what it wrote. The
// driver closes every store it opened when the test ends.
type Opener func(tb testing.TB, opts ...store.Option) store.Store

// Storage makes fresh, empty storage for one test (a temporary directory,
// a new database) and returns how to open it.
type Storage func(tb testing.TB) Opener

// Run runs every behavioural test against the driver.
func Run(t *testing.T, storage Storage) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"Tenants", testTenants},
		{"CreateAndGet", testCreateAndGet},
		{"SourceRoundTrip", testSourceRoundTrip},
		{"InvalidWorkflow", testInvalidWorkflow},
		{"ListRuns", testListRuns},
		{"TenantIsolation", testTenantIsolation},
		{"DiamondEndToEnd", testDiamondEndToEnd},
		{"FailFastProjections", testFailFastProjections},
		{"RejectedEventWritesNothing", testRejectedEventWritesNothing},
		{"DuplicateEventsAreHarmless", testDuplicateEvents},
		{"RetryWakeUp", testRetryWakeUp},
		{"OutboxLease", testOutboxLease},
		{"ConcurrentClaimers", testConcurrentClaimers},
		{"RunsInProgress", testRunsInProgress},
		{"Stats", testStats},
		{"Ping", testPing},
		{"CancelledContextWritesNothing", testCancelledContext},
		{"CloseMidway", testCloseMidway},
		{"ConcurrentApply", testConcurrentApply},
		{"TwoStoresShareData", testTwoStores},
		{"QuotaFIFO", testQuotaFIFO},
		{"QuotaMinutes", testQuotaMinutes},
		{"QuotaReused", testQuotaReused},
		{"QuotaRace", testQuotaRace},
		{"QuotaUsages", testQuotaUsages},
		{"QuotaLine", testQuotaLine},
		{"QuotaLineRandom", testQuotaLineRandom},
		{"QuotaReasonsFollowFigures", testQuotaReasonsFollowFigures},
		{"QuotaPutPlanAdmits", testQuotaPutPlanAdmits},
		{"ClaimLabels", testClaimLabels},
		{"LeaseTakeover", testLeaseTakeover},
		{"ClaimNext", testClaimNext},
		{"ClaimMaxStarts", testClaimMaxStarts},
		{"CancelRouting", testCancelRouting},
		{"WorkersAndWaiting", testWorkersAndWaiting},
		{"AttemptOutcomeOnce", testAttemptOutcomeOnce},
		{"QueuedCancelWithdrawn", testQueuedCancelWithdrawn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, storage(t))
		})
	}
}

// Clock is a settable store clock. It starts on a whole microsecond, the
// precision both drivers keep.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed time.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

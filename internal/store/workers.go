package store

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// Workers is the part of Store that lets several processes share the
// outbox: label-aware claims, a registry of live workers, and giving back
// claimed work at shutdown. See docs/adr/0013-distributed-workers.md.
type Workers interface {
	// ClaimFor is ClaimCommands with the claimer's labels: a start_step
	// whose step requires labels (workflow runs_on) is handed only to a
	// claimer that has every one of them with the same value. A cancel_step
	// goes to the owner holding a live lease on its attempt's start_step
	// (the process running the step), or to anyone when nobody does.
	// Command.PrevOwner says who held an expired lease before this claim.
	//
	// When it hands out fewer than c.Limit commands, next is the store-clock
	// time at which the first command this claimer could take, and did not,
	// becomes claimable: another owner's lease running out (a dead worker's
	// step) or a future available_at (a retry's backoff). It is zero when
	// nothing is pending, and after a full claim (claim again at once). A
	// claimer that sleeps until next finds a dead worker's steps as its
	// lease ends, without polling; live owners renew every lease/3, so it
	// wakes at most every 2/3 of a lease for them.
	ClaimFor(ctx context.Context, c Claim) (cmds []Command, next time.Time, err error)

	// ReleaseCommand gives back a command owner holds without doing it, so
	// another claimer may take it at once instead of after the lease. It
	// fails like ExtendLease.
	ReleaseCommand(ctx context.Context, id int64, owner string) error

	// RegisterWorker records that worker id with these labels is alive now
	// (the store's clock). Call it again as a heartbeat, more often than
	// the liveness window ListWorkers and MarkWaiting are given.
	RegisterWorker(ctx context.Context, id string, labels map[string]string) error

	// RemoveWorker forgets a worker that stopped. Unknown ids are a no-op.
	RemoveWorker(ctx context.Context, id string) error

	// ListWorkers returns the workers whose last heartbeat is within
	// liveWithin of the store's clock, by id.
	ListWorkers(ctx context.Context, liveWithin time.Duration) ([]Worker, error)

	// MarkWaiting sets the waiting reason of every queued step whose
	// start_step no live worker (heartbeat within liveWithin) can take
	// ("no worker with labels arch=arm64"), and clears it on the steps some
	// live worker can take again. It returns how many steps changed.
	MarkWaiting(ctx context.Context, liveWithin time.Duration) (int, error)
}

// Claim is what ClaimFor needs.
type Claim struct {
	Owner  string
	Limit  int
	Lease  time.Duration
	Labels map[string]string // the claimer's labels
	// NoSteps: the claimer runs no steps (a server with execution turned
	// off); it takes neither start_step nor cancel_step.
	NoSteps bool
	// MaxStarts caps the start_step commands of the claim at the
	// claimer's free step slots: steps it holds but cannot start yet would
	// wait there while other workers sit idle. 0: no cap beyond Limit;
	// negative: no start_step at all (cancel_step and the rest still come).
	MaxStarts int
}

// Worker is a registered process that runs steps.
type Worker struct {
	ID          string
	Labels      map[string]string
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// HasLabels reports whether have includes every label of want with the
// same value: what a worker needs to take a step.
func HasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// FormatLabels writes labels as k=v pairs sorted by name, as flags take
// them and reasons show them.
func FormatLabels(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}

// WaitingReason says why a step requiring want waits, given the live
// workers, or "" when one of them can take it.
func WaitingReason(want map[string]string, live []Worker) string {
	for _, w := range live {
		if HasLabels(w.Labels, want) {
			return ""
		}
	}
	if len(want) == 0 {
		return "no live worker"
	}
	return "no worker with labels " + FormatLabels(want)
}

// Package scheduler is the server's durable driver: it claims the commands
// the engine enqueued in the store's outbox, runs steps with an executor,
// feeds their outcomes back through store.Apply, recovers after a crash and
// shuts down gracefully. runner is its in-memory sibling for `runbook run`.
// See docs/adr/0006-scheduler.md.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/store"
)

// Defaults for Config's zero fields.
const (
	DefaultLease = 30 * time.Second
	// DefaultLostRetries is how many lost attempts of a step the system
	// retries on its own, as Buildkite does for lost agents.
	DefaultLostRetries = 2
	// NoLostRetries as Config.LostRetries: a lost attempt counts against
	// the step's own retries.
	NoLostRetries = -1
	// pollInterval is the safety net of the claim loop when nothing but
	// this process wakes it (SQLite, or Postgres without LISTEN): every
	// wake-up that matters comes from a signal or the retry timer, but a
	// command written by another process is only seen by polling. With
	// LISTEN/NOTIFY wired to Wake, set Config.PollInterval to a slow
	// safety poll instead (see docs/adr/0013-distributed-workers.md).
	pollInterval = 200 * time.Millisecond
	// claimBatch bounds one ClaimCommands call.
	claimBatch = 32
)

// Store is what the scheduler needs of the store: admitting runs,
// applying events, the outbox and the worker registry.
type Store interface {
	CreateAndAdmit(ctx context.Context, nr store.NewRun) (store.Run, error)
	GetRun(ctx context.Context, tenantID, runID int64) (store.Run, error)
	Apply(ctx context.Context, runID int64, e engine.Event) (engine.State, []engine.Command, error)
	RunsInProgress(ctx context.Context) ([]store.Run, error)
	AdmitWaiting(ctx context.Context) (int, error)

	ClaimFor(ctx context.Context, c store.Claim) (cmds []store.Command, next time.Time, err error)
	ExtendLease(ctx context.Context, id int64, owner string, lease time.Duration) error
	ReleaseCommand(ctx context.Context, id int64, owner string) error
	CompleteCommand(ctx context.Context, id int64, owner string) error

	RegisterWorker(ctx context.Context, id string, labels map[string]string) error
	RemoveWorker(ctx context.Context, id string) error
	MarkWaiting(ctx context.Context, liveWithin time.Duration) (int, error)
}

// RunCollector is an executor that keeps objects per run (the Kubernetes
// executor's owner ConfigMap) until told the run ended.
type RunCollector interface {
	DeleteRun(ctx context.Context, runID string) error
}

// Config is what a Scheduler needs. Store, Executor and DataDir are
// required; the rest may be left zero.
type Config struct {
	Store    Store
	Executor executor.Executor
	// Processes records the steps' process groups; nil: a record of its
	// own (enough when the executor reports no groups to one).
	Processes *Processes
	// Collector is told when a run this process ended is over, so it
	// deletes what it kept for the run; nil: nothing to collect.
	Collector RunCollector
	Logs      *logstore.Store
	LogTee    LogTee        // nil: lines go to Logs only
	Bus       *eventbus.Bus // notified after every Apply, topic RunTopic(runID)
	Owner     string        // unique per process; "" means hostname-pid-random
	DataDir   string        // workspaces/<runID> and pgids/ live here
	Lease     time.Duration // outbox lease, renewed every Lease/3 while a step runs; 0 means DefaultLease
	MaxSteps  int           // steps running at once in this process; 0 means max(4, 2*GOMAXPROCS)
	Logger    *slog.Logger  // nil means slog.Default()
	// StepEnv, when set, adds variables to each step's env at its start
	// (a GitHub run's repository and a fresh token); an error fails the step.
	StepEnv func(ctx context.Context, runID int64) (map[string]string, error)

	// Labels are this process's worker labels: it takes only the steps
	// whose runs_on they satisfy. It registers in the store's worker table
	// with them (heartbeat every Lease/3) unless NoSteps.
	Labels map[string]string
	// NoSteps: run no steps here (a server whose steps run on workers); it
	// still drives retries and run ends.
	NoSteps bool
	// Shared: other processes use the same store (Postgres with workers or
	// several servers). Start then leaves the steps found running to their
	// owners' leases instead of marking them lost: a step is lost when its
	// lease expires and another scheduler takes its start_step.
	Shared bool
	// PollInterval is how often the loop claims without being woken; 0
	// means 200ms. An expired lease needs no poll: the store says when the
	// next one ends, and the loop wakes then.
	PollInterval time.Duration
	// Role names this process in recorded reasons: "server" or "worker".
	Role string
	// LostRetries is how many attempts of a step lost with their executor
	// (a dead worker, an expired lease, a restart, a shutdown's grace
	// ending) the system retries at once, apart from the step's retries;
	// it goes on every ExecutorLost this process records. 0 means
	// DefaultLostRetries; NoLostRetries means none.
	LostRetries int
	// RerunCopyLimit bounds, in bytes, the workspace a re-run of failed
	// steps copies from the run it re-runs; 0 means
	// DefaultRerunCopyLimit. A larger one is refused.
	RerunCopyLimit int64
}

// Scheduler drives runs stored in Config.Store. Create it with New, then
// Start it; Submit and Cancel may be called from any goroutine.
type Scheduler struct {
	cfg     Config
	procs   *Processes
	log     *slog.Logger
	maxHeld int           // claimed commands held at once, running or waiting for a slot
	slots   chan struct{} // one token per running step
	wake    chan struct{} // cap 1: "claim now"

	// wsMu: a re-run's copied workspace is put in place under the write
	// lock, and steps create their workspace under the read lock.
	wsMu sync.RWMutex

	mu      sync.Mutex
	held    map[int64]bool    // command IDs being handled, so a re-claimed lease is not run twice
	tasks   map[taskKey]*task // start_step commands being handled, by attempt
	nextDue time.Time         // earliest retry_due this process enqueued

	started  atomic.Bool
	stopping atomic.Bool
	stop     chan struct{}      // closed by Shutdown: no more claims
	loopDone chan struct{}      // closed when the claim loop has returned
	force    context.Context    // cancelled when Shutdown is forced: stop retrying writes
	forceNow context.CancelFunc // cancels force
	wg       sync.WaitGroup     // every command goroutine
	shutOnce sync.Once

	stepSeconds *prometheus.HistogramVec
}

// taskKey names one attempt of one step.
type taskKey struct {
	run     int64
	step    string
	attempt int
}

// New checks cfg and returns a Scheduler that is not started yet.
func New(cfg Config) (*Scheduler, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("scheduler: Config.Store is required")
	case cfg.Executor == nil:
		return nil, errors.New("scheduler: Config.Executor is required")
	case cfg.DataDir == "":
		return nil, errors.New("scheduler: Config.DataDir is required (workspaces and process records live there)")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Owner == "" {
		cfg.Owner = DefaultOwner()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = pollInterval
	}
	if cfg.Role == "" {
		cfg.Role = "server"
	}
	if cfg.RerunCopyLimit <= 0 {
		cfg.RerunCopyLimit = DefaultRerunCopyLimit
	}
	switch {
	case cfg.LostRetries == 0:
		cfg.LostRetries = DefaultLostRetries
	case cfg.LostRetries < 0:
		cfg.LostRetries = 0
	}
	if err := os.MkdirAll(workspaceRoot(cfg.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("scheduler: creating %s (is DataDir writable?): %w", workspaceRoot(cfg.DataDir), err)
	}
	procs := cfg.Processes
	if procs == nil {
		var err error
		if procs, err = NewProcesses(cfg.DataDir, cfg.Logger); err != nil {
			return nil, err
		}
	} else if procs.dataDir != cfg.DataDir {
		return nil, fmt.Errorf("scheduler: Config.Processes keeps its records in %s, not in DataDir %s", procs.dataDir, cfg.DataDir)
	}
	force, forceNow := context.WithCancel(context.Background())
	return &Scheduler{
		cfg:     cfg,
		procs:   procs,
		log:     cfg.Logger.With("component", "scheduler"),
		maxHeld: 2*cfg.MaxSteps + claimBatch,
		slots:   make(chan struct{}, cfg.MaxSteps),
		wake:    make(chan struct{}, 1),
		held:    map[int64]bool{},
		tasks:   map[taskKey]*task{},
		stop:    make(chan struct{}),

		stepSeconds: prometheus.NewHistogramVec(stepSecondsOpts, []string{"status"}),
		loopDone:    make(chan struct{}),
		force:       force,
		forceNow:    forceNow,
	}, nil
}

// DefaultOwner is hostname-pid-random: unique per process, readable in the
// outbox.
func DefaultOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano()%1e9, 36))
}

// RunTopic is the event bus topic of a run's changes.
func RunTopic(runID int64) string { return eventbus.RunTopic(runID) }

func workspaceRoot(dataDir string) string { return filepath.Join(dataDir, "workspaces") }
func pgidDir(dataDir string) string       { return filepath.Join(dataDir, "pgids") }

// Start recovers from a previous process that died (it reaps the process
// groups it left and marks its unfinished steps lost), then claims commands
// in the background until Shutdown. It fails when recovery cannot read the
// store; call it again to retry.
func (s *Scheduler) Start(ctx context.Context) error {
	if s.stopping.Load() {
		return errors.New("scheduler: Start after Shutdown")
	}
	if s.started.Load() {
		return errors.New("scheduler: already started")
	}
	left := s.reapOrphans()
	s.reapByWorkspace()
	s.removeStaged()
	if err := s.markLost(ctx, left); err != nil {
		return err
	}
	if !s.cfg.NoSteps {
		if err := s.cfg.Store.RegisterWorker(ctx, s.cfg.Owner, s.cfg.Labels); err != nil {
			return fmt.Errorf("scheduler: registering as a worker: %w", err)
		}
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("scheduler: already started")
	}
	go s.loop()
	if !s.cfg.NoSteps {
		go s.workerHeartbeat()
	}
	return nil
}

// Wake makes the claim loop claim now: call it when another process
// enqueued commands (a Postgres NOTIFY). It never blocks.
func (s *Scheduler) Wake() { s.signal() }

// Owner is the name this scheduler claims and registers under.
func (s *Scheduler) Owner() string { return s.cfg.Owner }

// Submit creates a run and admits it in one transaction: it is requested
// at once (its first steps are queued) when the tenant has minutes and a
// free slot, else it waits in the tenant's line as pending or blocked
// (Run.Admission and Run.Reason say which and why).
func (s *Scheduler) Submit(ctx context.Context, nr store.NewRun) (store.Run, error) {
	return s.SubmitReusing(ctx, nr, nil, "")
}

// SubmitReusing is Submit for a re-run of the failed steps of an earlier
// run: the steps named in reuse are marked succeeded (with reason), in the
// same transaction and before the run is requested, instead of running
// again. When nr.ReusedFrom names that run, the new run starts from a copy
// of its workspace in this process's data dir, so the files the reused
// steps made are there; a workspace over Config.RerunCopyLimit is refused
// with store.ErrInvalid and no run is created.
func (s *Scheduler) SubmitReusing(ctx context.Context, nr store.NewRun, reuse []string, reason string) (store.Run, error) {
	nr.Reused, nr.ReusedReason = reuse, reason
	var staged string
	if len(reuse) > 0 && nr.ReusedFrom > 0 && !s.cfg.NoSteps {
		var err error
		if staged, err = s.stageWorkspace(nr.ReusedFrom); err != nil {
			return store.Run{}, err
		}
	}
	// Its steps (or an older run's, admitted instead) are in the outbox once
	// committed: wake the claim loop then, not after the run is read back.
	nr.Committed = s.signal
	if staged != "" {
		// No step of the new run may create its workspace before the copy
		// is in place.
		s.wsMu.Lock()
	}
	r, err := s.cfg.Store.CreateAndAdmit(ctx, nr)
	if staged != "" {
		if err == nil {
			s.placeWorkspace(staged, r.ID)
		} else {
			os.RemoveAll(staged)
		}
		s.wsMu.Unlock()
	}
	if err != nil {
		return store.Run{}, err
	}
	if s.cfg.Bus != nil {
		s.cfg.Bus.Publish(eventbus.Note{Topic: RunTopic(r.ID)})
		s.cfg.Bus.Publish(eventbus.Note{Topic: eventbus.TenantTopic(r.TenantID), Seq: r.ID})
	}
	return r, nil
}

// Cancel asks a run of tenantID to stop; reason is recorded. Another
// tenant's run fails with store.ErrNotFound. Cancelling an ended run is a
// no-op.
func (s *Scheduler) Cancel(ctx context.Context, tenantID, runID int64, reason string) error {
	if _, err := s.cfg.Store.GetRun(ctx, tenantID, runID); err != nil {
		return err
	}
	if reason == "" {
		reason = "cancelled"
	}
	_, err := s.applyOnce(ctx, runID, engine.Event{Kind: engine.CancelRequested, Reason: reason})
	return err
}

// signal wakes the claim loop without blocking.
func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// after reports an applied event: live readers are notified, the loop is
// woken for new commands and a retry's due time is remembered. The store
// does not return the event's Seq, so the note carries 0: readers re-read
// the run's events after their last seq anyway.
func (s *Scheduler) after(runID int64, e engine.Event, cmds []engine.Command) {
	if s.cfg.Bus != nil {
		s.cfg.Bus.Publish(eventbus.Note{Topic: RunTopic(runID)})
	}
	if len(cmds) == 0 {
		return
	}
	for _, c := range cmds {
		if c.Kind == engine.ScheduleRetry {
			due := e.Time.Add(c.Delay)
			s.mu.Lock()
			if s.nextDue.IsZero() || due.Before(s.nextDue) {
				s.nextDue = due
			}
			s.mu.Unlock()
		}
	}
	s.signal()
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/eventbus/pgnotify"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/scheduler"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/workflow"
)

// safetyPoll is how often a scheduler on Postgres claims without being
// woken by NOTIFY or by a timer. Dead workers' expired leases and retries
// whose backoff ended need no poll (each claim learns when the next lease
// ends or retry is due, and the loop wakes then), nor do notifications
// missed while the LISTEN connection was down (a reconnect wakes the
// loop): this is a net for what none of them foresaw.
const safetyPoll = 5 * time.Second

// runnerFlags are the flags of every process that runs steps: `server`
// and `worker` take them alike.
type runnerFlags struct {
	dataDir, databaseURL string
	logLevel, logFormat  string
	labels               []string
	grace, lease, poll   time.Duration
	maxSteps             int
	lostRetries          int
}

// addRunnerFlags declares runnerFlags but --data-dir and --database-url,
// whose defaults and help differ by command.
func addRunnerFlags(fl *pflag.FlagSet, f *runnerFlags, labelsHelp string) {
	fl.StringSliceVar(&f.labels, "labels", nil, labelsHelp)
	fl.DurationVar(&f.grace, "grace", 30*time.Second, "on shutdown, how long running steps may take to finish before they are stopped")
	fl.DurationVar(&f.lease, "lease", scheduler.DefaultLease, "how long a claimed step stays ours without a heartbeat (renewed every lease/3); a dead process's steps are lost after it")
	fl.DurationVar(&f.poll, "safety-poll", safetyPoll, "with Postgres: how often to claim without a NOTIFY or a lease/retry timer (a safety net)")
	fl.IntVar(&f.maxSteps, "max-steps", 0, "steps run at once (default max(4, 2×CPUs))")
	fl.IntVar(&f.lostRetries, "lost-retries", scheduler.DefaultLostRetries, lostRetriesUsage)
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
}

// runnerOptions are what the commands that run steps set apart from their
// flags. A new kind of executor or sandbox adds its settings here and in
// newExecutor.
type runnerOptions struct {
	store    scheduler.Store
	executor string   // local or kubernetes
	k8s      k8sFlags // with executor kubernetes
	// sandbox runs local steps in bubblewrap; nil runs them unsandboxed
	// (each still under the init of its own PID namespace).
	sandbox *local.Sandbox
	owner   string // the scheduler's name; "" means hostname-pid-random
	role    string // "server" or "worker", in recorded reasons
	noSteps bool   // run no steps here: workers do
	// stepEnv adds variables to each step's env (a GitHub run's repository
	// and token); nil adds none.
	stepEnv func(ctx context.Context, runID int64) (map[string]string, error)
	// serveLogs: the process's API follows logs, so it must hear of the
	// shared log store's new chunks.
	serveLogs bool
}

// stepRunner is a process's scheduler and what it runs steps with.
type stepRunner struct {
	sched  *scheduler.Scheduler
	logs   stepLogs
	bus    *eventbus.Bus // run changes, relayed between processes on Postgres
	labels map[string]string
	log    *slog.Logger
	grace  time.Duration
	closes []func() // run in reverse order by Close
}

// startStepRunner opens the logs, builds the executor and the scheduler,
// listens for other processes' notifications on Postgres, and starts the
// scheduler (which first recovers from a predecessor that died). Close it
// when done, after shutdown.
func startStepRunner(ctx context.Context, f runnerFlags, o runnerOptions, log *slog.Logger) (_ *stepRunner, err error) {
	labels, err := parseLabels(f.labels, o.executor)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	r := &stepRunner{bus: eventbus.New(), labels: labels, log: log, grace: f.grace}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	// Servers show the logs of steps run elsewhere from the shared copy.
	if r.logs, err = openStepLogs(ctx, f.dataDir, f.databaseURL, log); err != nil {
		return nil, err
	}
	r.closes = append(r.closes, r.logs.Close)
	procs, err := scheduler.NewProcesses(f.dataDir, log)
	if err != nil {
		return nil, err
	}
	o.k8s.runs, o.k8s.log = o.store, log
	exe, err := newExecutor(ctx, o.executor, o.k8s, procs.Started, o.sandbox)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	r.closes = append(r.closes, exe.close)
	shared := f.databaseURL != ""
	cfg := scheduler.Config{
		Store: o.store, Executor: exe.Executor, Processes: procs, Collector: exe.collector,
		Logs: r.logs.local, LogTee: r.logs.tee(), Bus: r.bus, DataDir: f.dataDir, Logger: log, StepEnv: o.stepEnv,
		Owner: o.owner, Role: o.role, Labels: labels, NoSteps: o.noSteps, Lease: f.lease, MaxSteps: f.maxSteps,
		LostRetries: lostRetries(f.lostRetries),
	}
	if shared {
		// Other servers and workers may share the database: leases decide
		// what is lost, and NOTIFY wakes the claim loop.
		cfg.Shared, cfg.PollInterval = true, f.poll
	}
	if r.sched, err = scheduler.New(cfg); err != nil {
		return nil, err
	}
	if shared {
		channels := map[string]func(string){postgres.OutboxChannel: func(string) { r.sched.Wake() }}
		if o.serveLogs {
			maps.Copy(channels, r.logs.listen())
		}
		fan, err := pgnotify.Start(ctx, f.databaseURL, pgnotify.Options{Bus: r.bus, Channels: channels, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("listening for notifications: %w", err)
		}
		r.closes = append(r.closes, func() { fan.Close() })
	}
	if err := r.sched.Start(ctx); err != nil {
		return nil, fmt.Errorf("starting the scheduler: %w", err)
	}
	return r, nil
}

// shutdown stops taking work and lets running steps finish within the
// grace period, or until force is cancelled.
func (r *stepRunner) shutdown(force context.Context) {
	if err := r.sched.Shutdown(force, r.grace); err != nil {
		r.log.Error("scheduler shutdown", "err", err)
	}
}

// Close releases what startStepRunner opened, last opened first.
func (r *stepRunner) Close() {
	for i := len(r.closes) - 1; i >= 0; i-- {
		r.closes[i]()
	}
	r.closes = nil
}

// awaitShutdown blocks until SIGTERM or SIGINT, or until failed delivers
// an error; then it calls each stop in turn with a context that a second
// signal cancels (stop now). It returns the error failed delivered, if any.
func awaitShutdown(log *slog.Logger, grace time.Duration, failed <-chan error, stops ...func(force context.Context)) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case err := <-failed:
		return err
	case sig := <-sigs:
		log.Info("shutting down: no new work; running steps may finish", "signal", sig.String(), "grace", grace)
	}
	force, forceNow := context.WithCancel(context.Background())
	defer forceNow()
	go func() {
		if sig, ok := <-sigs; ok {
			log.Warn("second signal: stopping steps now", "signal", sig.String())
			forceNow()
		}
	}()
	for _, stop := range stops {
		stop(force)
	}
	log.Info("stopped")
	return nil
}

// parseLabels reads k=v pairs and adds executor=<executor> unless set.
func parseLabels(pairs []string, executorName string) (map[string]string, error) {
	labels := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return nil, fmt.Errorf("--labels: %q is not k=v", p)
		}
		if err := workflow.ValidLabel(k, v); err != nil {
			return nil, fmt.Errorf("--labels: %w", err)
		}
		labels[k] = v
	}
	if _, ok := labels["executor"]; !ok && executorName != "" {
		labels["executor"] = executorName
	}
	return labels, nil
}

// commonStart reads the flags every step-running command shares: the
// logger, and the data directory made absolute.
func commonStart(f *runnerFlags) (*slog.Logger, error) {
	log, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if f.dataDir, err = filepath.Abs(f.dataDir); err != nil {
		return nil, err
	}
	return log, nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

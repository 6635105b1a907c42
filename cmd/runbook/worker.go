package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/eventbus/pgnotify"
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/scheduler"
	"github.com/runbookhq/runbook/internal/store"
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

type workerFlags struct {
	databaseURL, dataDir, executor, id, logLevel, logFormat string
	labels                                                  []string
	grace, lease, poll                                      time.Duration
	maxSteps                                                int
	k8s                                                     k8sFlags
	sandbox                                                 sandboxFlags
	hide                                                    []string // paths sandboxed steps must not see
}

// k8sFlags are the installation's settings of the Kubernetes executor,
// and what it needs from the worker.
type k8sFlags struct {
	kubeconfig, namespace, image, serviceAccount, instance string
	cpuRequest, cpuLimit, memoryRequest, memoryLimit       string
	nodeSelector                                           map[string]string
	pullSecrets                                            []string

	runs store.Store // which runs have ended, for the sweep of their leftover objects
	log  *slog.Logger
}

func newWorkerCmd() *cobra.Command {
	var f workerFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run steps for the servers sharing a Postgres database (no HTTP API)",
		Long: `Run a scheduler without the HTTP server: it claims the steps whose runs_on
labels it has from the shared Postgres outbox, runs them, and records their
outcome. Start any number of workers and servers on one database.

On SIGTERM or Ctrl-C it stops claiming, lets running steps finish for
--grace, then stops them and records them lost, so the engine retries them
elsewhere at once. A second signal stops at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfig(cmd); err != nil {
				return &exitError{code: 2, err: err}
			}
			f.hide = hiddenPaths(cmd, f.dataDir)
			return runWorker(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.String("config", "", "YAML file of settings (keys are flag names); env RUNBOOK_CONFIG")
	fl.StringVar(&f.databaseURL, "database-url", "", "postgres://user@host:5432/db shared with the servers (required)")
	fl.StringVar(&f.dataDir, "data-dir", "./runbook-worker-data", "where this worker's step workspaces and logs live (one worker per directory)")
	fl.StringVar(&f.executor, "executor", "local", "how steps run: local (processes on this machine) or kubernetes")
	fl.StringSliceVar(&f.labels, "labels", nil, "labels this worker offers to runs_on, as k=v,k=v (executor=<--executor> is added unless given)")
	fl.StringVar(&f.id, "id", "", "this worker's name in leases and the worker table (default hostname-pid-random)")
	fl.DurationVar(&f.grace, "grace", 30*time.Second, "on shutdown, how long running steps may take to finish before they are stopped")
	fl.DurationVar(&f.lease, "lease", scheduler.DefaultLease, "how long a claimed step stays ours without a heartbeat (renewed every lease/3); a dead worker's steps are lost after it")
	fl.DurationVar(&f.poll, "safety-poll", safetyPoll, "how often to claim without a NOTIFY or a lease/retry timer (a safety net)")
	fl.IntVar(&f.maxSteps, "max-steps", 0, "steps run at once (default max(4, 2×CPUs))")
	fl.StringVar(&f.k8s.kubeconfig, "kubeconfig", "", "with --executor kubernetes: kubeconfig file (default: in-cluster service account)")
	fl.StringVar(&f.k8s.namespace, "kubernetes-namespace", "runbook", "with --executor kubernetes: namespace of the step Jobs")
	fl.StringVar(&f.k8s.image, "kubernetes-image", "", "with --executor kubernetes: step image holding the runbook binary (required)")
	fl.StringVar(&f.k8s.serviceAccount, "kubernetes-service-account", "", "with --executor kubernetes: service account of the step pods (default: none mounted)")
	fl.StringVar(&f.k8s.instance, "kubernetes-instance", "", "with --executor kubernetes: stable name of this worker's Jobs across its restarts (default: hostname)")
	fl.StringVar(&f.k8s.cpuRequest, "kubernetes-cpu-request", "", "with --executor kubernetes: CPU a step's pod requests, e.g. 500m (a step's kubernetes.resources may override it)")
	fl.StringVar(&f.k8s.cpuLimit, "kubernetes-cpu-limit", "", "with --executor kubernetes: CPU limit of a step's container, e.g. 2 (a step's kubernetes.resources may override it)")
	fl.StringVar(&f.k8s.memoryRequest, "kubernetes-memory-request", "", "with --executor kubernetes: memory a step's pod requests, e.g. 512Mi (a step's kubernetes.resources may override it)")
	fl.StringVar(&f.k8s.memoryLimit, "kubernetes-memory-limit", "", "with --executor kubernetes: memory limit of a step's container, e.g. 4Gi (a step's kubernetes.resources may override it)")
	fl.StringToStringVar(&f.k8s.nodeSelector, "kubernetes-node-selector", nil, "with --executor kubernetes: node labels step pods must run on, as k=v,k=v (a step's kubernetes.node_selector adds to them)")
	fl.StringSliceVar(&f.k8s.pullSecrets, "kubernetes-image-pull-secrets", nil, "with --executor kubernetes: Secrets for pulling step images, as a,b (the installation's only, like the service account)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	addSandboxFlags(fl, &f.sandbox, false)
	return cmd
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

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// newExecutor builds the executor --executor names.
func newExecutor(ctx context.Context, name string, k k8sFlags, onStart func(executor.Spec, int), sandbox *local.Sandbox) (executor.Executor, func(), error) {
	switch name {
	case "local":
		exe, err := local.New(local.Options{OnStart: onStart, Sandbox: sandbox, PIDNamespace: true})
		if err != nil {
			return nil, nil, err
		}
		if err := checkSandbox(ctx, exe); err != nil {
			exe.Close()
			return nil, nil, err
		}
		return exe, func() { exe.Close() }, nil
	case "kubernetes":
		if k.image == "" {
			return nil, nil, errors.New("--executor kubernetes needs --kubernetes-image (an image holding the runbook binary; see the Containerfile)")
		}
		return newKubernetes(ctx, k)
	}
	return nil, nil, fmt.Errorf("--executor %q: want local or kubernetes", name)
}

func runWorker(parent context.Context, f workerFlags) error {
	if parent == nil {
		parent = context.Background()
	}
	if !isPostgresURL(f.databaseURL) {
		return &exitError{code: 2, err: errors.New("runbook worker needs --database-url postgres://…: " +
			"an embedded SQLite database belongs to the one server process that opened it, so it cannot share work with workers")}
	}
	log, err := newLogger(serverFlags{logLevel: f.logLevel, logFormat: f.logFormat})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	labels, err := parseLabels(f.labels, f.executor)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if f.dataDir, err = filepath.Abs(f.dataDir); err != nil {
		return err
	}
	st, err := postgres.Open(parent, f.databaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	// Servers show the logs of steps run here from the shared copy.
	logs, err := openStepLogs(parent, f.dataDir, f.databaseURL, log)
	if err != nil {
		return err
	}
	defer logs.Close()

	f.k8s.runs, f.k8s.log = st, log
	var sched *scheduler.Scheduler
	var sandbox *local.Sandbox
	if f.executor == "local" {
		if sandbox, err = workerSandbox(f.sandbox, f.hide, log); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	exe, closeExe, err := newExecutor(parent, f.executor, f.k8s, func(spec executor.Spec, pgid int) { sched.OnStepStart(spec, pgid) }, sandbox)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer closeExe()
	// The bus has no subscribers here: it relays this worker's changes to
	// the servers' live readers.
	bus := eventbus.New()
	sched, err = scheduler.New(scheduler.Config{
		Store: st, Executor: exe, Logs: logs.local, LogTee: logs.tee(), Bus: bus, Owner: f.id, DataDir: f.dataDir, Logger: log,
		Lease: f.lease, MaxSteps: f.maxSteps, Labels: labels, Shared: true, PollInterval: f.poll, Role: "worker",
	})
	if err != nil {
		return err
	}
	fan, err := startFanout(parent, f.databaseURL, bus, sched, log, nil) // a worker follows no log
	if err != nil {
		return err
	}
	defer fan.Close()
	if err := sched.Start(parent); err != nil {
		return fmt.Errorf("starting the scheduler: %w", err)
	}
	log.Info("runbook worker started", "id", sched.Owner(), "labels", store.FormatLabels(labels), "executor", f.executor,
		"data_dir", f.dataDir, "lease", f.lease, "safety_poll", f.poll, "version", version)
	waitAndShutdown(log, sched, f.grace)
	return nil
}

// startFanout LISTENs for outbox notifications (waking sched's claim loop)
// and the channels of more, and relays bus between the processes sharing
// the database.
func startFanout(ctx context.Context, url string, bus *eventbus.Bus, sched *scheduler.Scheduler, log *slog.Logger, more map[string]func(string)) (*pgnotify.Fanout, error) {
	channels := map[string]func(string){postgres.OutboxChannel: func(string) { sched.Wake() }}
	maps.Copy(channels, more)
	fan, err := pgnotify.Start(ctx, url, pgnotify.Options{Bus: bus, Channels: channels, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("listening for notifications: %w", err)
	}
	return fan, nil
}

// waitAndShutdown blocks until SIGTERM or SIGINT, then shuts sched down
// within grace; a second signal forces it.
func waitAndShutdown(log *slog.Logger, sched *scheduler.Scheduler, grace time.Duration) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	sig := <-sigs
	log.Info("shutting down: no new work; running steps may finish", "signal", sig.String(), "grace", grace)
	force, forceNow := context.WithCancel(context.Background())
	defer forceNow()
	go func() {
		if sig, ok := <-sigs; ok {
			log.Warn("second signal: stopping steps now", "signal", sig.String())
			forceNow()
		}
	}()
	if err := sched.Shutdown(force, grace); err != nil {
		log.Error("scheduler shutdown", "err", err)
	}
	log.Info("stopped")
}

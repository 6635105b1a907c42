package main

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
)

type workerFlags struct {
	runnerFlags
	executor, id string
	k8s          k8sFlags
	sandbox      sandboxFlags
	hide         []string // paths sandboxed steps must not see
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
	addRunnerFlags(fl, &f.runnerFlags, "labels this worker offers to runs_on, as k=v,k=v (executor=<--executor> is added unless given)")
	fl.StringVar(&f.executor, "executor", "local", "how steps run: local (processes on this machine) or kubernetes")
	fl.StringVar(&f.id, "id", "", "this worker's name in leases and the worker table (default hostname-pid-random)")
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
	addSandboxFlags(fl, &f.sandbox, false)
	return cmd
}

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

func runWorker(parent context.Context, f workerFlags) error {
	if parent == nil {
		parent = context.Background()
	}
	if !isPostgresURL(f.databaseURL) {
		return &exitError{code: 2, err: errors.New("runbook worker needs --database-url postgres://…: " +
			"an embedded SQLite database belongs to the one server process that opened it, so it cannot share work with workers")}
	}
	log, err := commonStart(&f.runnerFlags)
	if err != nil {
		return err
	}
	st, err := postgres.Open(parent, f.databaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	var sandbox *local.Sandbox
	if f.executor == "local" {
		if sandbox, err = workerSandbox(f.sandbox, f.hide, log); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	r, err := startStepRunner(parent, f.runnerFlags, runnerOptions{store: st, executor: f.executor, k8s: f.k8s, owner: f.id, role: "worker", sandbox: sandbox}, log)
	if err != nil {
		return err
	}
	defer r.Close()
	log.Info("runbook worker started", "id", r.sched.Owner(), "labels", store.FormatLabels(r.labels), "executor", f.executor,
		"data_dir", f.dataDir, "lease", f.lease, "safety_poll", f.poll, "version", version)
	return awaitShutdown(log, f.grace, nil, r.shutdown)
}

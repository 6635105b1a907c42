package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/scheduler"
	"github.com/runbookhq/runbook/internal/store"
)

// The executors --executor names, and what each needs from the process.

// k8sFlags are the installation's settings of the Kubernetes executor,
// and what it needs from the worker.
type k8sFlags struct {
	kubeconfig, namespace, image, serviceAccount, instance string
	cpuRequest, cpuLimit, memoryRequest, memoryLimit       string
	nodeSelector                                           map[string]string
	pullSecrets                                            []string

	runs inProgress // which runs have ended, for the sweep of their leftover objects
	log  *slog.Logger
}

// inProgress lists the runs that have not ended.
type inProgress interface {
	RunsInProgress(ctx context.Context) ([]store.Run, error)
}

// stepExecutor is the executor --executor names, with what it needs from
// the scheduler besides running steps.
type stepExecutor struct {
	executor.Executor
	collector scheduler.RunCollector // nil: it keeps nothing per run
	close     func()
}

// newExecutor builds the executor --executor names; onStart records each
// step's process group (the local executor's).
func newExecutor(ctx context.Context, name string, k k8sFlags, onStart func(executor.Spec, int), sandbox *local.Sandbox) (stepExecutor, error) {
	switch name {
	case "local":
		exe, err := local.New(local.Options{OnStart: onStart, Sandbox: sandbox, PIDNamespace: true})
		if err != nil {
			return stepExecutor{}, err
		}
		if err := checkSandbox(ctx, exe); err != nil {
			exe.Close()
			return stepExecutor{}, err
		}
		return stepExecutor{Executor: exe, close: func() { exe.Close() }}, nil
	case "kubernetes":
		if k.image == "" {
			return stepExecutor{}, errors.New("--executor kubernetes needs --kubernetes-image (an image holding the runbook binary; see the Containerfile)")
		}
		return newKubernetes(ctx, k)
	}
	return stepExecutor{}, fmt.Errorf("--executor %q: want local or kubernetes", name)
}

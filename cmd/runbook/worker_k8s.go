//go:build kubernetes

// The Kubernetes executor is built in only with -tags kubernetes: client-go's
// scheme registration alone doubles the start-up time and adds ~30 MB of RSS
// to every run mode, including `runbook run` on a laptop.

package main

import (
	"context"
	"fmt"
	"os"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/executor/kubernetes"
)

// newKubernetes connects to the cluster (in-cluster unless --kubeconfig)
// and starts the executor's shared informer.
func newKubernetes(ctx context.Context, k k8sFlags) (executor.Executor, func(), error) {
	rc, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	client, err := k8s.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	if k.instance == "" {
		k.instance, _ = os.Hostname()
	}
	exe, err := kubernetes.New(ctx, client, kubernetes.Config{
		Namespace: k.namespace, Image: k.image, ServiceAccount: k.serviceAccount, Instance: kubernetes.LabelValue(k.instance),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes executor: %w", err)
	}
	return exe, exe.Close, nil
}

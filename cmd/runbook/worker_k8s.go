//go:build kubernetes

// The Kubernetes executor is built in only with -tags kubernetes: client-go's
// scheme registration alone doubles the start-up time and adds ~30 MB of RSS
// to every run mode, including `runbook run` on a laptop.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/runbookhq/runbook/internal/executor/kubernetes"
)

// newKubernetes connects to the cluster (in-cluster unless --kubeconfig)
// and starts the executor: its shared informer, and the sweep of the
// objects ended runs left behind.
func newKubernetes(ctx context.Context, k k8sFlags) (stepExecutor, error) {
	res, err := k8sResources(k)
	if err != nil {
		return stepExecutor{}, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	if err != nil {
		return stepExecutor{}, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	client, err := k8s.NewForConfig(rc)
	if err != nil {
		return stepExecutor{}, fmt.Errorf("kubernetes client: %w", err)
	}
	if k.instance == "" {
		k.instance, _ = os.Hostname()
	}
	cfg := kubernetes.Config{
		Namespace: k.namespace, Image: k.image, ServiceAccount: k.serviceAccount, Instance: kubernetes.LabelValue(k.instance),
		Resources: res, NodeSelector: k.nodeSelector, ImagePullSecrets: k.pullSecrets, Logger: k.log,
	}
	if k.runs != nil {
		cfg.Runs = endedRuns{k.runs}
	}
	exe, err := kubernetes.New(ctx, client, cfg)
	if err != nil {
		return stepExecutor{}, fmt.Errorf("kubernetes executor: %w", err)
	}
	// It keeps an owner ConfigMap per run until told the run ended.
	return stepExecutor{Executor: exe, collector: exe, close: exe.Close}, nil
}

// k8sResources reads the --kubernetes-{cpu,memory}-{request,limit} flags.
func k8sResources(k k8sFlags) (corev1.ResourceRequirements, error) {
	var r corev1.ResourceRequirements
	var errs []error
	for _, q := range []struct {
		flag, value string
		list        *corev1.ResourceList
		name        corev1.ResourceName
		example     string
	}{
		{"--kubernetes-cpu-request", k.cpuRequest, &r.Requests, corev1.ResourceCPU, "500m or 2"},
		{"--kubernetes-cpu-limit", k.cpuLimit, &r.Limits, corev1.ResourceCPU, "500m or 2"},
		{"--kubernetes-memory-request", k.memoryRequest, &r.Requests, corev1.ResourceMemory, "512Mi or 4Gi"},
		{"--kubernetes-memory-limit", k.memoryLimit, &r.Limits, corev1.ResourceMemory, "512Mi or 4Gi"},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err == nil && v.Sign() < 0 {
			err = errors.New("it is negative")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a quantity such as %s: %w", q.flag, q.value, q.example, err))
			continue
		}
		if *q.list == nil {
			*q.list = corev1.ResourceList{}
		}
		(*q.list)[q.name] = v
	}
	return r, errors.Join(errs...)
}

// endedRuns answers the executor's sweep from the store: a run has ended
// when it is no longer among the runs in progress (queued or running).
// The executor lists its ConfigMaps before it asks, so a run that starts
// meanwhile is not in the question.
type endedRuns struct{ st inProgress }

func (r endedRuns) EndedRuns(ctx context.Context, runIDs []string) ([]string, error) {
	live, err := r.st.RunsInProgress(ctx)
	if err != nil {
		return nil, err
	}
	inProgress := make(map[int64]bool, len(live))
	for _, run := range live {
		inProgress[run.ID] = true
	}
	var ended []string
	for _, id := range runIDs {
		// An ID that is not a run ID of this store is not ours to end.
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && !inProgress[n] {
			ended = append(ended, id)
		}
	}
	return ended, nil
}

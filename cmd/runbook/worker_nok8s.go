//go:build !kubernetes

package main

import (
	"context"
	"errors"
)

// newKubernetes refuses: see worker_k8s.go for why the executor is opt-in.
func newKubernetes(context.Context, k8sFlags) (stepExecutor, error) {
	return stepExecutor{}, errors.New("this runbook was built without the Kubernetes executor: build it with `go build -tags kubernetes ./cmd/runbook` (the Containerfile does)")
}

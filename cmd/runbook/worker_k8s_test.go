//go:build kubernetes

package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
)

func TestKubernetesResourceFlags(t *testing.T) {
	r, err := k8sResources(k8sFlags{cpuRequest: "250m", memoryLimit: "1.5Gi"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests.Cpu().String() != "250m" || r.Limits.Memory().String() != "1536Mi" || len(r.Requests) != 1 || len(r.Limits) != 1 {
		t.Errorf("resources %v", r)
	}
	_, err = k8sResources(k8sFlags{cpuLimit: "two", memoryRequest: "-1Gi"})
	for _, want := range []string{`--kubernetes-cpu-limit "two" is not a quantity such as 500m or 2`, `--kubernetes-memory-request "-1Gi" is not a quantity such as 512Mi or 4Gi: it is negative`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestTheSweepAsksTheStoreWhichRunsEnded(t *testing.T) {
	rig := newPGRig(t)
	ctx := context.Background()
	wf := "steps:\n  - {name: a, command: \"true\"}\n"
	live := rig.submit(t, wf)
	ended := rig.submit(t, wf)
	// Its one step runs and exits, as a worker would report it.
	for _, e := range []engine.Event{{Kind: engine.StepStarted, Step: "a", Attempt: 1}, {Kind: engine.StepExited, Step: "a", Attempt: 1}} {
		if _, _, err := rig.st.Apply(ctx, ended, e); err != nil {
			t.Fatal(err)
		}
	}
	if st := rig.get(t, ended).Status; !st.Terminal() {
		t.Fatalf("the run whose step exited is %s, want it ended", st)
	}
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	got, err := endedRuns{rig.st}.EndedRuns(ctx, []string{id(live), id(ended), "999999", "not-a-run"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{id(ended), "999999"}; !slices.Equal(got, want) {
		t.Errorf("ended %v, want %v (a finished run and one that does not exist; not the live run nor a foreign ID)", got, want)
	}
}

package server

import (
	"reflect"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/store"
)

func TestReusableKeepsOnlySucceededStepsWithKeptDependencies(t *testing.T) {
	st := func(name string, status engine.StepStatus, deps ...string) store.Step {
		return store.Step{StepState: engine.StepState{Name: name, Status: status}, DependsOn: deps}
	}
	steps := []store.Step{
		st("Report", engine.StepSucceeded, "Flaky"), // before its dependency in the file
		st("Build", engine.StepSucceeded),
		st("Flaky", engine.StepFailed),
		st("Test", engine.StepSucceeded, "Build"),
		st("Deep", engine.StepSucceeded, "Report"),
		st("Skipped", engine.StepSkipped, "Build"),
	}
	got := reusable(steps)
	if want := []string{"Build", "Test"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("reusable = %v, want %v: a step after one that runs again must run again", got, want)
	}
}

package attempt_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/attempt"
	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/workflow"
)

func parse(t *testing.T, src string) *workflow.Workflow {
	t.Helper()
	wf, err := workflow.Parse(".runbook.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

// The step's own env wins over the run's variables, which win over the
// workflow's global env.
func TestEnvLayers(t *testing.T) {
	wf := parse(t, "global:\n  env: {A: global, B: global, C: global}\nsteps:\n  - name: s\n    env: {C: step}\n    command: 'true'\n")
	env := attempt.Env(wf, 0, map[string]string{"B": "run", "C": "run"})
	if env["A"] != "global" || env["B"] != "run" || env["C"] != "step" {
		t.Errorf("env %v, want A from global, B from the run, C from the step", env)
	}
}

type lines []string

func (l *lines) WriteLine(line logline.Line) error {
	*l = append(*l, string(line.Text))
	return nil
}

// A real run: the log is created at the first line only, secrets are
// masked in the log and in every other sink, and the result becomes the
// engine's event.
func TestRunLogsMaskedLinesAndMakesTheEvent(t *testing.T) {
	logs, err := logstore.Open(filepath.Join(t.TempDir(), "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	exe, err := local.New(local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	wf := parse(t, "global:\n  env: {API_TOKEN: hunter2-hunter2}\nsteps:\n  - name: talk\n    command: 'echo \"token is $API_TOKEN\"; exit 3'\n  - name: quiet\n    command: 'true'\n")
	ctx := context.Background()

	spec := attempt.Spec(wf, 0, nil, "7", 1, t.TempDir(), 0)
	var seen lines
	res, logErr := attempt.Run(ctx, exe, spec, logs, &seen)
	if logErr != nil {
		t.Fatal(logErr)
	}
	got, err := logs.Read(logstore.Key{Run: "7", Step: "talk", Attempt: 1}, 1, 10)
	if err != nil || len(got) != 1 || strings.Contains(string(got[0].Text), "hunter2") || !strings.Contains(string(got[0].Text), "token is") {
		t.Errorf("log %v (%v), want one line with the token masked", got, err)
	}
	if len(seen) != 1 || strings.Contains(seen[0], "hunter2") {
		t.Errorf("the other sink saw %q, want one masked line", seen)
	}
	if e := attempt.Event(spec, res, logErr); e.Kind != engine.StepExited || e.ExitCode != 3 || e.Step != "talk" || e.Attempt != 1 {
		t.Errorf("event %+v, want talk's attempt 1 exited 3", e)
	}

	quiet := attempt.Spec(wf, 1, nil, "7", 1, t.TempDir(), 0)
	if _, logErr := attempt.Run(ctx, exe, quiet, logs); logErr != nil {
		t.Fatal(logErr)
	}
	if _, err := logs.Stat(logstore.Key{Run: "7", Step: "quiet", Attempt: 1}); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("a silent step's log: %v, want none created", err)
	}
}

func TestEventOfEachResult(t *testing.T) {
	spec := executor.Spec{Step: "s", Attempt: 2}
	for _, c := range []struct {
		res    executor.Result
		logErr error
		want   engine.Event
	}{
		{executor.Result{ExitCode: 0}, nil, engine.Event{Kind: engine.StepExited}},
		{executor.Result{ExitCode: -1, TimedOut: true}, nil, engine.Event{Kind: engine.StepTimedOut}},
		{executor.Result{ExitCode: -1, Err: errors.New("no such shell")}, nil, engine.Event{Kind: engine.StepExited, ExitCode: -1, Reason: "no such shell"}},
		{executor.Result{ExitCode: 0}, errors.New("disk full"), engine.Event{Kind: engine.StepExited, Reason: "log store: disk full"}},
	} {
		got := attempt.Event(spec, c.res, c.logErr)
		if got.Time.IsZero() {
			t.Errorf("%+v: no time", c.res)
		}
		got.Time = time.Time{}
		c.want.Step, c.want.Attempt = "s", 2
		if got != c.want {
			t.Errorf("Event(%+v, %v) = %+v, want %+v", c.res, c.logErr, got, c.want)
		}
	}
}

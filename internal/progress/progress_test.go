package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/logline"
)

func TestPlainOutputKeepsStreamsApartAndSummarises(t *testing.T) {
	var buf bytes.Buffer
	p := New(&buf, false, []string{"Build", "A very long step name that overflows"})
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p.StepChanged(engine.StepState{Name: "Build", Status: engine.StepRunning, Attempt: 1})
	p.Line("Build", 1, logline.Line{N: 1, Stream: logline.Stdout, Text: []byte("compiling")})
	p.Line("Build", 1, logline.Line{N: 2, Stream: logline.Stderr, Text: []byte("warning: x")})
	p.Line("A very long step name that overflows", 1, logline.Line{N: 1, Stream: logline.Stdout, Text: []byte("hi")})
	build := engine.StepState{Name: "Build", Status: engine.StepSucceeded, Attempt: 1, StartedAt: t0, FinishedAt: t0.Add(1500 * time.Millisecond)}
	p.StepChanged(build)
	p.RunFinished(engine.State{
		Status: engine.RunFailed, Reason: `step "X" failed (exit code 2)`, StartedAt: t0, FinishedAt: t0.Add(2 * time.Second),
		Steps: []engine.StepState{build, {Name: "Never", Status: engine.StepCancelled}},
	})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"▶ Build started\n",
		"Build                    | compiling\n",
		"Build                    ! warning: x\n",
		"A very long step name t… | hi\n",
		"✓ Build succeeded in 1.5s\n",
		"Build  succeeded  1         1.5s",
		"Never  cancelled  -         -",
		`run failed in 2.0s: step "X" failed (exit code 2)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("plain output has ANSI escapes:\n%q", out)
	}
}

func TestColourOnlyWhenAsked(t *testing.T) {
	var buf bytes.Buffer
	p := New(&buf, true, []string{"A"})
	p.Line("A", 1, logline.Line{N: 1, Stream: logline.Stdout, Text: []byte("x")})
	p.Close()
	if !strings.Contains(buf.String(), "\x1b[36mA\x1b[0m | x") {
		t.Errorf("coloured output %q", buf.String())
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		300 * time.Microsecond:            "300µs",
		850 * time.Millisecond:            "850ms",
		1200 * time.Millisecond:           "1.2s",
		3*time.Minute + 4*time.Second:     "3m04s",
		2*time.Hour + 5*time.Minute + 9e9: "2h05m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

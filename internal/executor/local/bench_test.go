package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

type discard struct{}

func (discard) WriteLine(logline.Line) error { return nil }

// Each benchmark runs the same command through the executor and through a
// plain exec.Command (the floor), alternating within every iteration so that
// load from other processes hits both alike. It reports both times and the
// difference; ns/op is their sum.
func benchVsFloor(b *testing.B, command string, floor func() *exec.Cmd) {
	e := newExec(b, Options{})
	spec := newSpec(b, command)
	var ours, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		if res := e.Run(context.Background(), spec, discard{}); res.ExitCode != 0 || res.Err != nil {
			b.Fatalf("%+v", res)
		}
		t1 := time.Now()
		if err := floor().Run(); err != nil {
			b.Fatal(err)
		}
		ours += t1.Sub(t0)
		base += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Nanoseconds())/n, "runbook-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/n, "floor-ns/op")
	b.ReportMetric(float64((ours-base).Nanoseconds())/n, "overhead-ns/op")
	b.ReportMetric(float64(ours)/float64(base), "ratio")
}

// BenchmarkTrue measures what the executor adds to starting a process:
// the floor is exec.Command("bash", "-c", "true").Run().
func BenchmarkTrue(b *testing.B) {
	benchVsFloor(b, "true", func() *exec.Cmd { return exec.Command("bash", "-c", "true") })
}

// lines200k prints 200,000 lines of 80 characters.
const lines200k = `seq -f %080g 200000`

// BenchmarkOutput measures reading, splitting and numbering output, with a
// sink that discards. The floors are the command redirected to a file (the
// issue's floor) and to /dev/null.
func BenchmarkOutput(b *testing.B) {
	b.Run("vs-file", func(b *testing.B) {
		out := filepath.Join(b.TempDir(), "out")
		benchVsFloor(b, lines200k, func() *exec.Cmd { return exec.Command("bash", "-c", lines200k+" > "+out) })
	})
	b.Run("vs-devnull", func(b *testing.B) {
		benchVsFloor(b, lines200k, func() *exec.Cmd { return exec.Command("bash", "-c", lines200k+" > /dev/null") })
	})
}

// BenchmarkIsolation runs `true` with each isolation this machine offers:
// the process group alone, a PID namespace (root) and the sandbox. The
// differences are what each costs per step.
func BenchmarkIsolation(b *testing.B) {
	for _, mode := range []string{"plain", "pidns", "sandbox"} {
		b.Run(mode, func(b *testing.B) {
			var e *Executor
			switch mode {
			case "plain":
				e = plainExec(b, Options{})
			case "pidns":
				if os.Geteuid() != 0 {
					b.Skip("needs root")
				}
				e = newExec(b, Options{PIDNamespace: true})
			case "sandbox":
				if _, err := LookBwrap(""); err != nil {
					b.Skip(err)
				}
				e = newExec(b, Options{Sandbox: &Sandbox{}})
			}
			spec := newSpec(b, "true")
			for b.Loop() {
				if res := e.Run(context.Background(), spec, discard{}); res.ExitCode != 0 || res.Err != nil {
					b.Fatalf("%+v", res)
				}
			}
		})
	}
}

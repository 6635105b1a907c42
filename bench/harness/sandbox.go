package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"
	"time"
)

// sandboxSteps is the length of the chain the sandbox's cost is read from.
const sandboxSteps = 50

// sandboxTarget is what the sandbox may add to one step at p50 (issue 14).
const sandboxTarget = 3 * time.Millisecond

// sandboxCost runs a chain of 50 `true` steps with `runbook run` and with
// `runbook run --sandbox`, interleaved with the bash floor, and reports what
// the sandbox adds per step: (sandboxed p50 − unsandboxed p50) / 50. It
// returns false when that misses the target.
func sandboxCost(bin, tmp string, runs int) bool {
	if _, err := exec.LookPath("bwrap"); err != nil {
		fmt.Println("sandbox: skipped, bubblewrap is not installed (apt-get install bubblewrap)")
		return true
	}
	dir := filepath.Join(tmp, "sandbox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	wf := filepath.Join(dir, ".runbook.yml")
	if err := os.WriteFile(wf, []byte(chain(sandboxSteps)), 0o644); err != nil {
		panic(err)
	}
	var floor, plain, boxed, plainCPU, boxedCPU []time.Duration
	for r := 0; r < runs+1; r++ {
		f, err := measure("bash", "-c", fmt.Sprintf(`for i in $(seq %d); do bash -c true; done`, sandboxSteps))
		if err != nil {
			panic(err)
		}
		p, err := measure(bin, "run", "--color", "never", wf)
		if err != nil {
			panic(err)
		}
		b, err := measure(bin, "run", "--sandbox", "--color", "never", wf)
		if err != nil {
			panic(err)
		}
		if r == 0 {
			continue // warm-up
		}
		floor, plain, boxed = append(floor, f.wall), append(plain, p.wall), append(boxed, b.wall)
		plainCPU, boxedCPU = append(plainCPU, p.cpu), append(boxedCPU, b.cpu)
	}
	fm, pm, bm := median(floor), median(plain), median(boxed)
	perStep := (bm - pm) / sandboxSteps
	cpuPerStep := (median(boxedCPU) - median(plainCPU)) / sandboxSteps
	verdict := "ok"
	if perStep > sandboxTarget {
		verdict = "MISSED"
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\nchain of 50 true\tfloor p50\tunsandboxed p50\tsandboxed p50\tadded per step\tadded CPU per step\ttarget\tverdict\t")
	fmt.Fprintf(tw, "e: --sandbox\t%s\t%s\t%s\t%s\t%s\t≤ %s\t%s\t\n", ms(fm), ms(pm), ms(bm), ms(perStep), ms(cpuPerStep), ms(sandboxTarget), verdict)
	tw.Flush()
	fmt.Printf("(%d runs each, medians; CPU is user+system time of runbook run and every process it reaped, less sensitive to the machine's load than wall time)\n", runs)
	return verdict == "ok"
}

// Command harness measures `runbook run` against a bash floor measured in
// the same run, and prints the ratios and peak RSS. Run it with bench/run.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type benchCase struct {
	name     string
	workflow string  // .runbook.yml text
	floor    string  // bash script doing the same work without Runbook
	target   float64 // max ratio runbook/floor; 0 when the target is absolute
	absolute time.Duration
}

func chain(n int) string {
	var b strings.Builder
	b.WriteString("name: chain\nsteps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: s%d\n    command: \"true\"\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "    depends_on: [s%d]\n", i-1)
		}
	}
	return b.String()
}

func parallel(n int) string {
	var b strings.Builder
	b.WriteString("name: parallel\nsteps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: s%d\n    command: \"true\"\n", i)
	}
	return b.String()
}

// lines80 prints 200,000 lines of 80 characters.
const lines80 = `seq -f '%080g' 1 200000`

func cases(tmp string) []benchCase {
	return []benchCase{
		{name: "a: chain of 50 true", workflow: chain(50), target: 1.3,
			floor: `for i in $(seq 50); do bash -c true; done`},
		{name: "b: 50 parallel true", workflow: parallel(50), target: 1.3,
			floor: `for i in $(seq 50); do bash -c true & done; wait`},
		{name: "c: 200k lines x 80 chars", target: 1.5,
			workflow: "name: lines\nsteps:\n  - name: print\n    command: |\n      " + lines80 + "\n",
			floor:    "bash -c \"" + lines80 + " > " + filepath.Join(tmp, "floor.out") + "\""},
		{name: "d: startup, one true step", absolute: 20 * time.Millisecond,
			workflow: "name: one\nsteps:\n  - name: one\n    command: \"true\"\n",
			floor:    `bash -c true`},
	}
}

type sample struct {
	wall time.Duration
	cpu  time.Duration // user + system, the process's and its reaped children's
	rss  int64         // KiB
}

func measure(name string, args ...string) (sample, error) {
	cmd := exec.Command(name, args...)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return sample{}, err
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return sample{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rss: ru.Maxrss}, nil
}

func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func main() {
	bin := flag.String("runbook", "", "path of the runbook binary to measure")
	runs := flag.Int("n", 15, "runs per command; medians are reported")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "usage: harness -runbook PATH [-n RUNS]")
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "runbook-bench-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tfloor p50\trunbook p50\tratio\ttarget\tpeak RSS\tverdict\t")
	failed := false
	for i, c := range cases(tmp) {
		wf := filepath.Join(tmp, fmt.Sprintf("case%d.runbook.yml", i))
		if err := os.WriteFile(wf, []byte(c.workflow), 0o644); err != nil {
			panic(err)
		}
		var floor, rb []time.Duration
		var peak int64
		// Interleave floor and runbook runs so drift hits both alike.
		for r := 0; r < *runs+1; r++ {
			f, err := measure("bash", "-c", c.floor)
			if err != nil {
				panic(err)
			}
			s, err := measure(*bin, "run", "--color", "never", wf)
			if err != nil {
				panic(err)
			}
			if r == 0 {
				continue // warm-up: page cache, first exec
			}
			floor, rb = append(floor, f.wall), append(rb, s.wall)
			peak = max(peak, s.rss)
		}
		fm, rm := median(floor), median(rb)
		ratio := float64(rm) / float64(fm)
		target, ok := "", true
		if c.absolute > 0 {
			target = "< " + c.absolute.String()
			ok = rm < c.absolute
		} else {
			target = fmt.Sprintf("≤ %.1f×", c.target)
			ok = ratio <= c.target
		}
		rssMB := float64(peak) / 1024
		ok = ok && rssMB < 40
		verdict := "ok"
		if !ok {
			verdict, failed = "MISSED", true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f×\t%s\t%.1f MB\t%s\t\n", c.name, ms(fm), ms(rm), ratio, target, rssMB, verdict)
	}
	tw.Flush()
	fmt.Printf("(%d runs each, medians; peak RSS is the runbook process's max; RSS target < 40 MB)\n", *runs)
	if !sandboxCost(*bin, tmp, *runs) {
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

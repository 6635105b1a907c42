// Package stats holds what every benchmark reports the same way: one
// definition of a percentile, so that p50 and p99 mean the same thing in
// each published figure, and the machine's load printed next to them.
package stats

import (
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Percentile is the nearest-rank percentile p (0–100) of xs: the smallest
// sample with at least p% of the samples at or below it. 0 for no samples.
func Percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[max(0, min(i, len(s)-1))]
}

// P50P99 is the median and the 99th percentile of xs.
func P50P99(xs []time.Duration) [2]time.Duration {
	return [2]time.Duration{Percentile(xs, 50), Percentile(xs, 99)}
}

// Loadavg is the 1, 5 and 15-minute load averages ("?" where unknown).
func Loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

package stats

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	xs := make([]time.Duration, 0, 200)
	for i := 200; i >= 1; i-- { // unsorted on purpose
		xs = append(xs, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 100}, {99, 198}, {100, 200}, {0, 1}, {0.1, 1}} {
		if got := Percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v of 1..200 = %v, want %v", tc.p, got, tc.want)
		}
	}
	if xs[0] != 200 {
		t.Error("Percentile sorted its argument in place")
	}
	if got := P50P99([]time.Duration{7}); got != [2]time.Duration{7, 7} {
		t.Errorf("one sample: %v", got)
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("no samples: %v", got)
	}
}

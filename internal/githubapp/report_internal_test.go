package githubapp

import (
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/quota"
)

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th",
		21: "21st", 22: "22nd", 101: "101st", 111: "111th", 112: "112th", 10000: "10000th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}

// A new place in line waits for the interval; a new reason does not.
func TestWaitNoteDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := waitNote{admission: quota.Pending, title: "Waiting for a concurrency slot: 3rd in line", at: t0}
	for _, c := range []struct {
		ad    quota.Admission
		title string
		after time.Duration
		want  bool
	}{
		{quota.Pending, w.title, time.Hour, false},
		{quota.Pending, "Waiting for a concurrency slot: 2nd in line", time.Second, false},
		{quota.Pending, "Waiting for a concurrency slot: 2nd in line", time.Minute, true},
		{quota.Blocked, "Blocked: quota exhausted", time.Second, true},
	} {
		if got := w.due(c.ad, c.title, t0.Add(c.after), time.Minute); got != c.want {
			t.Errorf("due(%s, %q, +%v) = %v, want %v", c.ad, c.title, c.after, got, c.want)
		}
	}
	if !(waitNote{}).due(quota.Pending, "Waiting for a concurrency slot: 1st in line", t0, time.Minute) {
		t.Error("the first note is not due")
	}
}

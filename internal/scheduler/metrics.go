package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runbookhq/runbook/internal/engine"
)

// stepSeconds is how long step attempts ran, by the status the attempt left
// its step in (retrying means it failed and will run again).
var stepSecondsOpts = prometheus.HistogramOpts{
	Name:    "runbook_step_duration_seconds",
	Help:    "Duration of step attempts run by this process, by the step's status after the attempt.",
	Buckets: prometheus.ExponentialBuckets(0.01, 4, 10), // 10ms … ~44min
}

// Collectors are the scheduler's metrics, for the server's /metrics.
func (s *Scheduler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.stepSeconds, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "runbook_steps_running",
		Help: "Step attempts this process is running now.",
	}, func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.tasks))
	})}
}

func (s *Scheduler) observeAttempt(st engine.State, step string, end time.Time) {
	for _, ss := range st.Steps {
		if ss.Name == step && !ss.StartedAt.IsZero() {
			s.stepSeconds.WithLabelValues(string(ss.Status)).Observe(end.Sub(ss.StartedAt).Seconds())
			return
		}
	}
}

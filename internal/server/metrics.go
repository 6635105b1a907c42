package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/runbookhq/runbook/internal/engine"
)

// metrics holds the server's own Prometheus registry, so tests can build
// several servers in one process.
type metrics struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runbook_http_request_duration_seconds",
			Help:    "API latency by route and status code (SSE streams count until they end).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route", "code"}),
	}
	m.reg.MustRegister(m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors (the scheduler's gauges, say) to the registry
// that /metrics serves.
func (s *Server) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := s.metrics.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// statusRecorder remembers the status code; it forwards Flush (SSE needs
// it) through Unwrap, which http.ResponseController follows.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		m.latency.WithLabelValues(route, strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
	})
}

// statsCollector reads run counts and the queue depth from the store at
// each scrape, so the figures are right for every replica and after restarts.
type statsCollector struct {
	runs Runs
	log  *slog.Logger
}

var (
	runsDesc  = prometheus.NewDesc("runbook_runs", "Runs by status, all tenants.", []string{"status"}, nil)
	queueDesc = prometheus.NewDesc("runbook_queue_depth", "Outbox commands due and not done (steps to start, retries, cancels).", nil, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runsDesc
	ch <- queueDesc
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.runs.Stats(ctx)
	if err != nil {
		c.log.Warn("metrics: reading store stats", "err", err)
		return
	}
	for _, status := range []engine.RunStatus{engine.RunQueued, engine.RunRunning, engine.RunSucceeded, engine.RunFailed, engine.RunCancelled} {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(st.RunsByStatus[status]), string(status))
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st.CommandsDue))
}

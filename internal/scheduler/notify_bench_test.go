package scheduler

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/eventbus/pgnotify"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/testdb"
)

// BenchmarkClaimToStart measures, on Postgres, the time from the commit
// of a run's RunRequested by another store handle (another process, for
// the scheduler: no in-process signal) to its first step's StepStarted:
// woken by LISTEN/NOTIFY with an hour-long safety poll, against the
// 200ms poll that was the only way to see another process's commands.
func BenchmarkClaimToStart(b *testing.B) {
	for _, mode := range []string{"notify", "poll200ms"} {
		b.Run(mode, func(b *testing.B) {
			url := testdb.New(b)
			open := func() *postgres.Store {
				st, err := postgres.Open(context.Background(), url)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close() })
				return st
			}
			mine, other := open(), open()
			ex, err := local.New(local.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer ex.Close()
			bus := eventbus.New()
			cfg := Config{Store: mine, Executor: ex, Bus: bus, DataDir: b.TempDir(), Shared: true,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if mode == "notify" {
				cfg.PollInterval = time.Hour
			}
			s, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			if mode == "notify" {
				fan, err := pgnotify.Start(context.Background(), url, pgnotify.Options{
					Channels: map[string]func(string){postgres.OutboxChannel: func(string) { s.Wake() }}})
				if err != nil {
					b.Fatal(err)
				}
				defer fan.Close()
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				s.Shutdown(ctx, 0)
			}()
			tn, err := other.CreateTenant(context.Background(), "acme")
			if err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			for b.Loop() {
				ctx := context.Background()
				r, err := other.CreateRun(ctx, store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte("steps:\n  - {name: a, command: \"true\"}\n"), Trigger: "api"})
				if err != nil {
					b.Fatal(err)
				}
				sub := bus.Subscribe(RunTopic(r.ID))
				if _, _, err := other.Apply(ctx, r.ID, engine.Event{Kind: engine.RunRequested}); err != nil {
					b.Fatal(err)
				}
				committed := time.Now()
				for {
					got, err := other.GetRun(ctx, tn.ID, r.ID)
					if err != nil {
						b.Fatal(err)
					}
					if got.Status.Terminal() {
						break
					}
					select {
					case <-sub.C:
					case <-time.After(waitLimit):
						b.Fatal("run did not end")
					}
				}
				sub.Close()
				evs, err := other.Events(ctx, tn.ID, r.ID, 0)
				if err != nil {
					b.Fatal(err)
				}
				i := find(evs, engine.StepStarted, "a", 1)
				lat = append(lat, evs[i].Time.Sub(committed))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

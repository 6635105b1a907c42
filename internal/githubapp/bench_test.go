package githubapp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/runbookhq/runbook/internal/forge/forgetest"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlite"
)

// BenchmarkReceive is the webhook's synchronous part, what GitHub waits
// for: verify the signature and record the delivery in SQLite (a ping, so
// the background part only marks it processed).
func BenchmarkReceive(b *testing.B) {
	ctx := context.Background()
	gh := forgetest.NewAppServer(b)
	st, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	app, err := github.NewApp(github.AppConfig{AppID: gh.AppID, PrivateKeyPEM: gh.KeyPEM(), WebhookSecret: secret, APIURL: gh.APIURL})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := githubapp.New(githubapp.Config{App: app, Repo: st, Runs: st, Submitter: noSubmit{}, DefaultTenant: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1,"installation":{"id":7}}`)
	h := http.Header{}
	h.Set("X-GitHub-Event", "ping")
	h.Set("X-Hub-Signature-256", sign(body))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		h.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", i))
		if err := svc.Receive(ctx, h, body); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	svc.Wait()
}

// noSubmit is never called: pings create no run.
type noSubmit struct{}

func (noSubmit) Submit(context.Context, store.NewRun) (store.Run, error) {
	return store.Run{}, fmt.Errorf("a ping submitted a run")
}

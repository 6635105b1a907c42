// Package githubapp runs workflows from GitHub: it takes webhook deliveries
// (recorded first, processed asynchronously, idempotent by delivery id),
// keeps installations and projects in sync, creates runs from pushes and
// pull requests, reports them back as check runs, and hands each step of
// such a run its repository and a fresh token. See docs/adr/0012.
package githubapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/store"
)

// Runs is what the service reads of runs.
type Runs interface {
	GetRun(ctx context.Context, tenantID, runID int64) (store.Run, error)
}

// Submitter creates runs: the scheduler.
type Submitter interface {
	Submit(ctx context.Context, nr store.NewRun) (store.Run, error)
}

// Config wires a Service. App, Repo, Runs and Submitter are required.
type Config struct {
	App       *github.App
	Repo      Repo
	Runs      Runs
	Submitter Submitter
	Bus       *eventbus.Bus // run changes; nil: reports poll only
	// PublicURL is where people reach Runbook; check runs link to
	// PublicURL/t/<tenant>/runs/<run>, the web UI's page of the run.
	PublicURL string
	// DefaultTenant owns new installations until a UI links installations
	// to tenants (docs/adr/0012).
	DefaultTenant int64
	// Poll is how often a followed run is read when no change note came
	// (another server on the same Postgres may drive it). Default 5s.
	Poll time.Duration
	// WaitUpdate is how often at most a waiting run's check is told its
	// new place in line. Default 1 min.
	WaitUpdate time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service is the GitHub App integration. Start it, then feed it deliveries
// with Receive; Close stops its background work.
type Service struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	access *RepoAccess

	mu        sync.Mutex
	following map[int64]bool // runs being reported
}

// New checks cfg.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.App == nil:
		return nil, errors.New("githubapp: Config.App is required")
	case cfg.Repo == nil || cfg.Runs == nil || cfg.Submitter == nil:
		return nil, errors.New("githubapp: Config.Repo, Runs and Submitter are required")
	case cfg.DefaultTenant == 0:
		return nil, errors.New("githubapp: a default tenant is required to own GitHub App installations (--github-default-tenant)")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.WaitUpdate <= 0 {
		cfg.WaitUpdate = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg, log: cfg.Logger.With("component", "github"), ctx: ctx, cancel: cancel,
		access: NewRepoAccess(cfg.App, cfg.Repo, cfg.Logger), following: map[int64]bool{}}, nil
}

// Start processes the deliveries a previous process recorded but did not
// finish, and resumes reporting the runs whose checks are not completed.
func (s *Service) Start(ctx context.Context) error {
	pending, err := s.cfg.Repo.PendingDeliveries(ctx)
	if err != nil {
		return fmt.Errorf("githubapp: reading unprocessed deliveries: %w", err)
	}
	for _, d := range pending {
		h := http.Header{}
		h.Set("X-Hub-Signature-256", d.Signature)
		h.Set("X-GitHub-Delivery", d.ID)
		h.Set("X-GitHub-Event", d.Event)
		w, err := github.ParseWebhook(s.cfg.App.WebhookSecret(), h, d.Body)
		if err != nil { // the secret changed since: it can never be processed
			s.finish(d.ID, err)
			continue
		}
		s.goProcess(w)
	}
	links, err := s.cfg.Repo.UnreportedRunLinks(ctx)
	if err != nil {
		return fmt.Errorf("githubapp: reading unreported runs: %w", err)
	}
	for _, l := range links {
		s.follow(l)
	}
	return nil
}

// Close stops background work and waits for it. Deliveries being processed
// stay unprocessed and are taken up again by the next Start.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// Wait blocks until no delivery is being processed and no run followed:
// for tests and graceful shutdown.
func (s *Service) Wait() { s.wg.Wait() }

// Receive verifies a webhook delivery, records it, and processes it in the
// background. A forged signature fails with github.ErrBadSignature and
// nothing is stored; a delivery already recorded is not processed again.
func (s *Service) Receive(ctx context.Context, h http.Header, body []byte) error {
	w, err := github.ParseWebhook(s.cfg.App.WebhookSecret(), h, body)
	if err != nil {
		return err
	}
	isNew, err := s.cfg.Repo.RecordDelivery(ctx, Delivery{ID: w.Delivery, Event: w.Event,
		Signature: h.Get("X-Hub-Signature-256"), Body: body, ReceivedAt: s.cfg.Now()})
	if err != nil {
		return err
	}
	if isNew {
		s.goProcess(w)
	}
	return nil
}

func (s *Service) goProcess(w github.Webhook) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.process(s.ctx, w)
		if s.ctx.Err() != nil {
			return // shutting down: the next Start processes it again
		}
		if err != nil {
			s.log.Warn("webhook delivery failed", "delivery", w.Delivery, "event", w.Event, "err", err)
		}
		s.finish(w.Delivery, err)
	}()
}

func (s *Service) finish(id string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if err := s.cfg.Repo.FinishDelivery(context.WithoutCancel(s.ctx), id, s.cfg.Now(), msg); err != nil {
		s.log.Error("could not mark a delivery processed; it will be processed again at start-up", "delivery", id, "err", err)
	}
}

func (s *Service) process(ctx context.Context, w github.Webhook) error {
	switch w.Kind {
	case github.KindInstallation, github.KindInstallationRepositories:
		return s.syncInstallation(ctx, w)
	case github.KindPush:
		p := w.Push
		ev := Event{Key: w.Delivery, RepoID: p.Repo.ID, InstallationID: w.InstallationID, SHA: p.After, Ref: p.Ref,
			Branch: p.Branch, Event: "push"}
		return s.trigger(ctx, ev)
	case github.KindPullRequest:
		pr := w.PullRequest
		ev := Event{Key: w.Delivery, RepoID: pr.Repo.ID, InstallationID: w.InstallationID, SHA: pr.HeadSHA,
			Ref: fmt.Sprintf("refs/pull/%d/head", pr.Number), Branch: pr.HeadRef, Event: "pull_request"}
		return s.trigger(ctx, ev)
	case github.KindRerequest:
		rr := w.Rerequest
		ev := Event{Key: w.Delivery, RepoID: rr.Repo.ID, InstallationID: w.InstallationID, SHA: rr.HeadSHA,
			Branch: rr.HeadBranch, Event: "rerequest"}
		if rr.HeadBranch != "" {
			ev.Ref = "refs/heads/" + rr.HeadBranch
		}
		return s.trigger(ctx, ev)
	}
	return nil // ping and ignored events
}

// recordAppError is RepoAccess.recordAppError on the service's app.
func (s *Service) recordAppError(ctx context.Context, installationID int64, err error) {
	s.access.recordAppError(ctx, installationID, err)
}

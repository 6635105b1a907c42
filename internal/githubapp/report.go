package githubapp

import (
	"context"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/store"
)

// follow reports l's run on its check until the run ends, once per run.
func (s *Service) follow(l RunLink) {
	if l.Reported == "completed" {
		return
	}
	s.mu.Lock()
	if s.following[l.RunID] {
		s.mu.Unlock()
		return
	}
	s.following[l.RunID] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.following, l.RunID)
			s.mu.Unlock()
		}()
		s.report(s.ctx, l)
	}()
}

// report moves the check to in_progress once a step has started and to
// completed when the run ends. What GitHub was told is saved, so a
// restarted server resumes where this one stopped; a failed update is
// tried again at the next change or poll.
func (s *Service) report(ctx context.Context, l RunLink) {
	var notes <-chan eventbus.Note
	if s.cfg.Bus != nil {
		sub := s.cfg.Bus.Subscribe(eventbus.RunTopic(l.RunID))
		defer sub.Close()
		notes = sub.C
	}
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	for {
		done, err := s.reportOnce(ctx, &l)
		if done {
			return
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("updating the check run failed; will retry", "run", l.RunID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-notes:
		case <-tick.C:
		}
	}
}

func (s *Service) reportOnce(ctx context.Context, l *RunLink) (bool, error) {
	r, err := s.cfg.Runs.GetRun(ctx, l.TenantID, l.RunID)
	if err != nil {
		return false, err
	}
	steps, started := stepReports(r)
	check := github.Check{InstallationID: l.InstallationID, Owner: l.Owner, Repo: l.Repo, SHA: l.SHA,
		DetailsURL: l.DetailsURL, CheckRunID: l.CheckRunID, Statuses: l.Statuses}
	if started && l.Reported == "" {
		if err := s.update(ctx, l, check, github.CheckReport{Status: github.StatusInProgress, Steps: steps}, "in_progress"); err != nil {
			return false, err
		}
	}
	if !r.Status.Terminal() {
		return false, nil
	}
	rep := github.CheckReport{Status: github.StatusCompleted, Conclusion: conclusion(r.Status), Steps: steps}
	if err := s.update(ctx, l, check, rep, "completed"); err != nil {
		return false, err
	}
	return true, nil
}

func (s *Service) update(ctx context.Context, l *RunLink, c github.Check, r github.CheckReport, reported string) error {
	if err := s.cfg.App.UpdateCheckRun(ctx, c, r); err != nil {
		s.recordAppError(ctx, l.InstallationID, err)
		return err
	}
	l.Reported = reported
	return s.cfg.Repo.UpdateRunLink(ctx, *l)
}

func stepReports(r store.Run) ([]github.StepReport, bool) {
	out := make([]github.StepReport, len(r.Steps))
	started := false
	for i, st := range r.Steps {
		out[i] = github.StepReport{Name: st.Name, Status: string(st.Status)}
		if !st.StartedAt.IsZero() {
			started = true
			if !st.FinishedAt.IsZero() {
				out[i].Duration = st.FinishedAt.Sub(st.StartedAt)
			}
		}
	}
	return out, started
}

func conclusion(st engine.RunStatus) string {
	switch st {
	case engine.RunSucceeded:
		return github.ConclusionSuccess
	case engine.RunCancelled:
		return github.ConclusionCancelled
	}
	return github.ConclusionFailure
}

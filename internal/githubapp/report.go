package githubapp

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/quota"
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

// report says on a queued check why the run waits (a concurrency slot, or
// minutes), moves it to in_progress once the run is admitted or a step has
// started, and to completed when the run ends. What GitHub was told is
// saved, so a restarted server resumes where this one stopped; a failed
// update is tried again at the next change or poll.
func (s *Service) report(ctx context.Context, l RunLink) {
	var notes <-chan eventbus.Note
	if s.cfg.Bus != nil {
		sub := s.cfg.Bus.Subscribe(eventbus.RunTopic(l.RunID))
		defer sub.Close()
		notes = sub.C
	}
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	var told waitNote
	for {
		done, err := s.reportOnce(ctx, &l, &told)
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

func (s *Service) reportOnce(ctx context.Context, l *RunLink, told *waitNote) (bool, error) {
	r, err := s.cfg.Runs.GetRun(ctx, l.TenantID, l.RunID)
	if err != nil {
		return false, err
	}
	steps, started := stepReports(r)
	check := github.Check{InstallationID: l.InstallationID, Owner: l.Owner, Repo: l.Repo, SHA: l.SHA,
		DetailsURL: l.DetailsURL, CheckRunID: l.CheckRunID, Statuses: l.Statuses}
	if l.Reported == "" && waits(r) {
		rep := waitingReport(r, steps)
		now := s.cfg.Now()
		if !told.due(r.Admission, rep.Title, now, s.cfg.WaitUpdate) {
			return false, nil
		}
		if err := s.cfg.App.UpdateCheckRun(ctx, check, rep); err != nil {
			s.recordAppError(ctx, l.InstallationID, err)
			return false, err
		}
		*told = waitNote{admission: r.Admission, title: rep.Title, at: now}
		return false, nil
	}
	// An admitted run holds a slot: it is in progress even before its
	// first step starts, which also replaces a waiting title at once.
	if (started || r.Status == engine.RunRunning) && l.Reported == "" {
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

// waitNote is what a followed run's check last said about its wait.
type waitNote struct {
	admission quota.Admission
	title     string
	at        time.Time
}

// due says whether the check should be told title now. A change of reason
// (pending, blocked) is told at once; a new place in line at most every
// `every`, since each promotion moves every run behind it and GitHub
// limits an installation's API calls.
func (w waitNote) due(ad quota.Admission, title string, now time.Time, every time.Duration) bool {
	if title == w.title {
		return false
	}
	return ad != w.admission || now.Sub(w.at) >= every
}

// waits is true while the run is kept out of its tenant's slots.
func waits(r store.Run) bool {
	return r.Status == engine.RunQueued && (r.Admission == quota.Pending || r.Admission == quota.Blocked)
}

// waitingReport is a queued check that says why the run has not started.
func waitingReport(r store.Run, steps []github.StepReport) github.CheckReport {
	rep := github.CheckReport{Status: github.StatusQueued, Steps: steps}
	why := strings.ReplaceAll(r.Reason, "\n", " ")
	if r.Admission == quota.Blocked {
		rep.Title = "Blocked: quota exhausted"
		if strings.HasPrefix(why, "quota exhausted") {
			rep.Title = "Blocked: " + why
		}
		rep.Text = "Runbook has not started this run: its tenant has no runtime minutes left (" + why + "). " +
			"It starts by itself when minutes arrive, at the next billing cycle or when an admin grants minutes; " +
			"cancel it to drop it."
		return rep
	}
	rep.Title = "Waiting for a concurrency slot"
	if r.Position > 0 {
		rep.Title += ": " + ordinal(r.Position) + " in line"
	}
	rep.Text = "Runbook has not started this run yet (" + why + "). " +
		"It starts by itself when one of its tenant's running runs ends, first in first out; " +
		"cancelling it takes it out of the line."
	return rep
}

// ordinal spells n as 1st, 2nd, 3rd, 4th, 11th, 21st, 112th.
func ordinal(n int) string {
	suffix := "th"
	switch n % 10 {
	case 1:
		suffix = "st"
	case 2:
		suffix = "nd"
	case 3:
		suffix = "rd"
	}
	if n%100 >= 11 && n%100 <= 13 {
		suffix = "th"
	}
	return strconv.Itoa(n) + suffix
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

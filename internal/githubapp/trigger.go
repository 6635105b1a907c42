package githubapp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

// Event asks for a run of one commit of a repository.
type Event struct {
	Key            string // idempotency key: the delivery id, or "manual:…"
	RepoID         int64
	InstallationID int64
	SHA, Ref       string
	Branch         string
	Event          string // push, pull_request, rerequest, manual
}

// ErrDisabled: the project exists but runs are turned off for it.
var ErrDisabled = errors.New("the project is disabled in Runbook")

// trigger reads .runbook.yml at ev.SHA and creates the run with its check,
// once per ev.Key. A missing or invalid file creates no run but a check
// that says why.
func (s *Service) trigger(ctx context.Context, ev Event) error {
	p, err := s.cfg.Repo.ProjectByRepo(ctx, ev.RepoID)
	if errors.Is(err, store.ErrNotFound) && ev.InstallationID != 0 {
		// An installation made before Runbook knew of it: learn it now.
		if _, err = s.ensureInstallation(ctx, ev.InstallationID, ""); err == nil {
			if err = s.listProjects(ctx, ev.InstallationID); err == nil {
				p, err = s.cfg.Repo.ProjectByRepo(ctx, ev.RepoID)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("githubapp: repository %d: %w", ev.RepoID, err)
	}
	_, err = s.run(ctx, p, ev)
	return err
}

// run is trigger for a known project; it returns the run's link.
func (s *Service) run(ctx context.Context, p Project, ev Event) (RunLink, error) {
	if !p.Enabled {
		return RunLink{}, ErrDisabled
	}
	in, err := s.cfg.Repo.Installation(ctx, p.InstallationID)
	if err != nil {
		return RunLink{}, err
	}
	if !in.SuspendedAt.IsZero() {
		msg := suspendedMsg(in.ID)
		s.logWrite(s.cfg.Repo.SetInstallationError(ctx, in.ID, msg), "recording that the installation is suspended", "installation", in.ID)
		return RunLink{}, &github.AppError{Kind: github.ErrSuspended, Msg: msg}
	}
	owner, repo := splitName(p.FullName)
	link := RunLink{Key: ev.Key, TenantID: p.TenantID, ProjectID: p.ID, InstallationID: in.ID, Owner: owner, Repo: repo,
		SHA: ev.SHA, Ref: ev.Ref, CloneURL: p.CloneURL}

	src, err := s.cfg.App.FetchWorkflow(ctx, in.ID, owner, repo, ev.SHA)
	if errors.Is(err, github.ErrNoWorkflow) {
		return link, s.finalCheck(ctx, link, github.CheckReport{Status: github.StatusCompleted, Conclusion: "neutral", Title: err.Error()})
	}
	if err != nil {
		s.recordAppError(ctx, in.ID, err)
		return link, err
	}
	if in.LastError != "" { // GitHub answers again: the problem is gone
		s.logWrite(s.cfg.Repo.SetInstallationError(ctx, in.ID, ""), "clearing the installation's error", "installation", in.ID)
	}
	if _, perr := workflow.Parse(github.WorkflowFile, src); perr != nil {
		var list workflow.ErrorList
		if !errors.As(perr, &list) {
			list = workflow.ErrorList{{File: github.WorkflowFile, Msg: perr.Error()}}
		}
		// Also on the project, one "file:line:col: message" a line, so the
		// UI shows the problems by line, not only the check on GitHub.
		s.logWrite(s.cfg.Repo.SetProjectError(ctx, p.ID, list.Error()), "recording the workflow's problems on the project", "project", p.ID)
		return link, s.finalCheck(ctx, link, github.CheckReport{Status: github.StatusCompleted,
			Conclusion: github.ConclusionFailure, Problems: list})
	}
	if p.LastError != "" { // the file parses again
		s.logWrite(s.cfg.Repo.SetProjectError(ctx, p.ID, ""), "clearing the project's error", "project", p.ID)
	}

	claimed, isNew, err := s.cfg.Repo.ClaimRunLink(ctx, link)
	if err != nil {
		return link, err
	}
	if !isNew {
		// Created before (or a crash came between claim and submit, when
		// creating none is the safe side: never two runs for one key).
		if claimed.RunID != 0 {
			s.follow(claimed)
		}
		return claimed, nil
	}
	r, err := s.cfg.Submitter.Submit(ctx, store.NewRun{TenantID: p.TenantID, ProjectID: p.ID, File: github.WorkflowFile,
		Source: src, Trigger: ev.Event, LinkKey: claimed.Key,
		Vars: workflow.Vars{Branch: ev.Branch, SHA: ev.SHA, Repo: p.FullName, Event: ev.Event}})
	if err != nil {
		return link, fmt.Errorf("githubapp: creating the run of %s at %s: %w", p.FullName, ev.SHA, err)
	}
	link = claimed
	link.RunID = r.ID
	link.DetailsURL = fmt.Sprintf("%s/t/%d/runs/%d", strings.TrimRight(s.cfg.PublicURL, "/"), p.TenantID, r.ID)
	if err := s.cfg.Repo.UpdateRunLink(ctx, link); err != nil {
		return link, err
	}
	c, err := s.cfg.App.CreateCheckRun(ctx, in.ID, owner, repo, ev.SHA, link.DetailsURL)
	if err != nil {
		// The run goes on; without a check there is nothing to report to.
		s.recordAppError(ctx, in.ID, err)
		s.logWrite(s.cfg.Repo.SetProjectError(ctx, p.ID, "could not create the check run: "+err.Error()),
			"recording the failed check run on the project", "project", p.ID)
		link.Reported = "completed"
		return link, s.cfg.Repo.UpdateRunLink(ctx, link)
	}
	link.CheckRunID, link.Statuses = c.CheckRunID, c.Statuses
	if err := s.cfg.Repo.UpdateRunLink(ctx, link); err != nil {
		return link, err
	}
	s.follow(link)
	return link, nil
}

// finalCheck creates a check that is completed at once: there is no run.
func (s *Service) finalCheck(ctx context.Context, l RunLink, r github.CheckReport) error {
	c, err := s.cfg.App.CreateCheckRun(ctx, l.InstallationID, l.Owner, l.Repo, l.SHA, strings.TrimRight(s.cfg.PublicURL, "/")+"/")
	if err == nil {
		err = s.cfg.App.UpdateCheckRun(ctx, c, r)
	}
	if err != nil {
		s.recordAppError(ctx, l.InstallationID, err)
	}
	return err
}

// logWrite logs the failure of a write that records a state for people
// to see (an installation's or a project's error): the trigger goes on
// without it, since the check run on GitHub says the same, but an
// operator must learn that the database refused it.
func (s *Service) logWrite(err error, what string, args ...any) {
	if err != nil {
		s.log.Error("could not save a status: "+what, append(args, "err", err)...)
	}
}

func splitName(full string) (owner, repo string) {
	owner, repo, _ = strings.Cut(full, "/")
	return owner, repo
}

package github

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/runbookhq/runbook/internal/workflow"
)

// CheckName is the name of Runbook's check run, and the context of its
// commit status when checks cannot be used.
const CheckName = "Runbook"

// Check is where a workflow run reports on GitHub: a check run, or commit
// statuses when the app may not write checks. Callers keep it with the run.
type Check struct {
	InstallationID   int64
	Owner, Repo, SHA string
	DetailsURL       string
	CheckRunID       int64 // 0 when Statuses
	Statuses         bool  // reporting through commit statuses
}

// Check run statuses and conclusions that Runbook uses.
const (
	StatusQueued     = "queued"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"

	ConclusionSuccess   = "success"
	ConclusionFailure   = "failure"
	ConclusionCancelled = "cancelled"
)

// StepReport is one step's line in the check's summary.
type StepReport struct {
	Name     string
	Status   string // as the run shows it: succeeded, failed, skipped, …
	Duration time.Duration
}

// CheckReport is what a check run shows.
type CheckReport struct {
	Status     string // StatusQueued, StatusInProgress or StatusCompleted
	Conclusion string // with StatusCompleted
	Title      string // default: from the conclusion
	Text       string // markdown above the step table (why a queued run waits)
	Steps      []StepReport
	Problems   workflow.ErrorList // an invalid .runbook.yml
}

// CreateCheckRun opens a queued check on the commit. When GitHub refuses
// checks (403: the app lacks the Checks permission), it sets a pending
// commit status instead and the returned Check says so.
func (a *App) CreateCheckRun(ctx context.Context, installationID int64, owner, repo, sha, detailsURL string) (Check, error) {
	c := Check{InstallationID: installationID, Owner: owner, Repo: repo, SHA: sha, DetailsURL: detailsURL}
	err := a.withToken(ctx, installationID, Scope{}, func(cl *gh.Client, tok string) error {
		cr, _, err := cl.Checks.CreateCheckRun(ctx, owner, repo, gh.CreateCheckRunOptions{
			Name: CheckName, HeadSHA: sha, DetailsURL: ptr(detailsURL), Status: ptr(StatusQueued),
		})
		if code, _ := status(err); code == http.StatusForbidden {
			c.Statuses = true
			return a.postStatus(ctx, cl, c, "pending", "Queued", tok)
		} else if err != nil {
			return passAuth(err, "POST check-runs", tok)
		}
		c.CheckRunID = cr.GetID()
		return nil
	})
	return c, err
}

// UpdateCheckRun moves the check to r.Status, with its summary.
func (a *App) UpdateCheckRun(ctx context.Context, c Check, r CheckReport) error {
	return a.withToken(ctx, c.InstallationID, Scope{}, func(cl *gh.Client, tok string) error {
		if c.Statuses {
			state, desc := statusOf(r)
			return a.postStatus(ctx, cl, c, state, desc, tok)
		}
		opt := gh.UpdateCheckRunOptions{Name: CheckName, DetailsURL: ptr(c.DetailsURL), Status: ptr(r.Status)}
		if r.Status == StatusCompleted {
			opt.Conclusion = ptr(r.Conclusion)
			opt.CompletedAt = &gh.Timestamp{Time: a.now()}
		}
		if r.Status == StatusCompleted || len(r.Steps) > 0 || r.Title != "" {
			opt.Output = &gh.CheckRunOutput{Title: ptr(title(r)), Summary: ptr(Summary(r))}
		}
		_, _, err := cl.Checks.UpdateCheckRun(ctx, c.Owner, c.Repo, c.CheckRunID, opt)
		return passAuth(err, "PATCH check-runs", tok)
	})
}

func (a *App) postStatus(ctx context.Context, cl *gh.Client, c Check, state, desc, tok string) error {
	_, _, err := cl.Repositories.CreateStatus(ctx, c.Owner, c.Repo, c.SHA, gh.RepoStatus{
		State: ptr(state), TargetURL: ptr(c.DetailsURL), Description: ptr(desc), Context: ptr(CheckName),
	})
	if code, _ := status(err); code == http.StatusForbidden {
		return &AppError{Kind: ErrChecksForbidden, Msg: fmt.Sprintf("GitHub refused both checks and commit statuses on %s/%s: give the app the Checks (or Commit statuses) write permission", c.Owner, c.Repo)}
	}
	return passAuth(err, "POST statuses", tok)
}

// passAuth lets a 401 through untouched, so that withToken renews the
// token, and explains anything else.
func passAuth(err error, call, tok string) error {
	if err == nil {
		return nil
	}
	if code, _ := status(err); code == http.StatusUnauthorized {
		return err
	}
	return unavailable(call, err, tok)
}

// statusOf maps a report to a commit status (which has no "cancelled").
func statusOf(r CheckReport) (state, desc string) {
	if r.Status != StatusCompleted {
		if r.Title != "" { // a queued run says why it waits
			return "pending", title(r)
		}
		return "pending", "Running"
	}
	switch r.Conclusion {
	case ConclusionSuccess:
		return "success", title(r)
	case ConclusionCancelled:
		return "error", title(r)
	}
	return "failure", title(r)
}

func title(r CheckReport) string {
	if r.Title != "" {
		return cut(r.Title, 140)
	}
	switch {
	case len(r.Problems) > 0:
		return fmt.Sprintf("%s is invalid (%d problems)", WorkflowFile, len(r.Problems))
	case r.Status != StatusCompleted:
		return "Running"
	case r.Conclusion == ConclusionSuccess:
		return fmt.Sprintf("%d steps succeeded", len(r.Steps))
	case r.Conclusion == ConclusionCancelled:
		return "Cancelled"
	}
	return "Failed"
}

// maxSummary is GitHub's limit on a check run's output summary.
const maxSummary = 65535

// Summary is the check's markdown: validation problems with their lines,
// then a table of each step's status and duration.
func Summary(r CheckReport) string {
	var b strings.Builder
	if r.Text != "" {
		b.WriteString(r.Text + "\n")
	}
	if len(r.Problems) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "`%s` is invalid:\n\n", WorkflowFile)
		for _, p := range r.Problems {
			if p.Pos.Line > 0 {
				fmt.Fprintf(&b, "- line %d, column %d: %s\n", p.Pos.Line, p.Pos.Col, mdEscape(p.Msg))
			} else {
				fmt.Fprintf(&b, "- %s\n", mdEscape(p.Msg))
			}
		}
	}
	if len(r.Steps) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("| Step | Status | Duration |\n|---|---|---|\n")
		for _, s := range r.Steps {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCell(s.Name), mdCell(s.Status), s.Duration.Round(time.Millisecond))
		}
	}
	return cut(b.String(), maxSummary)
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "…"
}

func ptr[T any](v T) *T { return &v }

package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

// runView is a run as the API shows it. The run's env is left out: it may
// hold values passed in at trigger time that are not for every reader.
type runView struct {
	ID          int64            `json:"id"`
	TenantID    int64            `json:"tenant_id"`
	ProjectID   int64            `json:"project_id,omitempty"`
	File        string           `json:"file"`
	Name        string           `json:"name,omitempty"` // the workflow's name:, on a single run
	Trigger     string           `json:"trigger"`
	Branch      string           `json:"branch,omitempty"`
	Event       string           `json:"event,omitempty"`
	SHA         string           `json:"sha,omitempty"`
	Repo        string           `json:"repo,omitempty"`
	Status      engine.RunStatus `json:"status"`
	Reason      string           `json:"reason,omitempty"`
	Admission   string           `json:"admission,omitempty"` // pending or blocked while it waits; Reason says why
	Position    int              `json:"position,omitempty"`  // place in the tenant's pending line, 1 next
	RequestedAt time.Time        `json:"requested_at"`
	StartedAt   *time.Time       `json:"started_at,omitempty"`
	FinishedAt  *time.Time       `json:"finished_at,omitempty"`
	DurationMS  *int64           `json:"duration_ms,omitempty"`
	LastSeq     int64            `json:"last_seq"`
	Steps       []stepView       `json:"steps,omitempty"`
}

type stepView struct {
	Name     string            `json:"name"`
	Status   engine.StepStatus `json:"status"`
	Attempt  int               `json:"attempt"`
	ExitCode *int              `json:"exit_code,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	// WaitingReason: why a queued step is not taken ("no worker with
	// labels arch=arm64").
	WaitingReason string     `json:"waiting_reason,omitempty"`
	DependsOn     []string   `json:"depends_on"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	DurationMS    *int64     `json:"duration_ms,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func durationMS(start, end time.Time) *int64 {
	if start.IsZero() || end.IsZero() {
		return nil
	}
	ms := end.Sub(start).Milliseconds()
	return &ms
}

func viewRun(r store.Run) runView {
	v := runView{
		ID: r.ID, TenantID: r.TenantID, ProjectID: r.ProjectID, File: r.File, Name: workflowName(r), Trigger: r.Trigger,
		Branch: r.Vars.Branch, Event: r.Vars.Event, SHA: r.Vars.SHA, Repo: r.Vars.Repo,
		Status: r.Status, Reason: r.Reason, RequestedAt: r.RequestedAt, Position: r.Position,
		StartedAt: timePtr(r.StartedAt), FinishedAt: timePtr(r.FinishedAt),
		DurationMS: durationMS(r.StartedAt, r.FinishedAt), LastSeq: r.LastSeq,
	}
	if r.Status == engine.RunQueued && r.Admission != quota.Admitted {
		v.Admission = string(r.Admission)
	}
	for _, st := range r.Steps {
		deps := st.DependsOn
		if deps == nil {
			deps = []string{}
		}
		v.Steps = append(v.Steps, stepView{
			Name: st.Name, Status: st.Status, Attempt: st.Attempt, ExitCode: st.ExitCode, Reason: st.Reason,
			WaitingReason: st.WaitingReason, DependsOn: deps, StartedAt: timePtr(st.StartedAt), FinishedAt: timePtr(st.FinishedAt),
			DurationMS: durationMS(st.StartedAt, st.FinishedAt),
		})
	}
	return v
}

// createRun starts a run of an uploaded workflow file: the body is the
// file (any content type but multipart), or a multipart form with a "file"
// part. Query: branch, sha, event, repo, project.
func (s *Server) createRun(w http.ResponseWriter, r *http.Request, c call) {
	if declaredTooLarge(w, r, maxUpload(r), tooLargeWorkflow) {
		return
	}
	src, name, err := readWorkflowUpload(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", tooLargeWorkflow)
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	q := r.URL.Query()
	project, _ := strconv.ParseInt(q.Get("project"), 10, 64)
	event := q.Get("event")
	if event == "" {
		event = "api"
	}
	run, err := s.cfg.Scheduler.Submit(r.Context(), store.NewRun{
		TenantID: c.tenant, ProjectID: project, File: name, Source: src, Trigger: triggerOf(r),
		Vars: workflow.Vars{Branch: q.Get("branch"), SHA: q.Get("sha"), Event: event, Repo: q.Get("repo")},
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewRun(run))
}

var tooLargeWorkflow = fmt.Sprintf("a workflow file may be at most %d bytes", workflow.MaxFileSize)

// maxUpload is the largest body a workflow upload may have: the file, or
// the file and its multipart framing.
func maxUpload(r *http.Request) int64 {
	if isMultipart(r) {
		return workflow.MaxFileSize + 64<<10
	}
	return workflow.MaxFileSize
}

func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// readWorkflowUpload reads at most MaxFileSize bytes of workflow file.
func readWorkflowUpload(w http.ResponseWriter, r *http.Request) (src []byte, name string, err error) {
	name = ".runbook.yml"
	body := http.MaxBytesReader(w, r.Body, workflow.MaxFileSize+64<<10)
	if !isMultipart(r) {
		src, err = io.ReadAll(body)
	} else {
		r.Body = body
		var f io.ReadCloser
		f, name, err = formFile(r)
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		src, err = io.ReadAll(f)
	}
	if err != nil {
		return nil, "", err
	}
	if len(src) > workflow.MaxFileSize {
		return nil, "", &http.MaxBytesError{Limit: workflow.MaxFileSize}
	}
	if len(src) == 0 {
		return nil, "", errors.New("the request has no workflow file: send the .runbook.yml as the body, or as the multipart part \"file\"")
	}
	return src, name, nil
}

func formFile(r *http.Request) (io.ReadCloser, string, error) {
	if err := r.ParseMultipartForm(workflow.MaxFileSize); err != nil {
		return nil, "", err
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return nil, "", fmt.Errorf("multipart upload without a \"file\" part: %w", err)
	}
	return f, hdr.Filename, nil
}

func (s *Server) runID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("run"), 10, 64)
	if err != nil || id <= 0 {
		notFound(w)
		return 0, false
	}
	return id, true
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, c call) {
	id, ok := s.runID(w, r)
	if !ok {
		return
	}
	key := runKey{c.tenant, id}
	if b, ok := s.cache.ended.Get(key); ok {
		writeJSONBytes(w, http.StatusOK, b)
		return
	}
	run, err := s.cfg.Runs.GetRun(r.Context(), c.tenant, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := json.Marshal(viewRun(run))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if run.Status.Terminal() {
		s.cache.ended.Add(key, b)
	}
	writeJSONBytes(w, http.StatusOK, b)
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, c call) {
	q := r.URL.Query()
	f := store.RunFilter{Status: engine.RunStatus(q.Get("status")), Branch: q.Get("branch")}
	if p := q.Get("project"); p != "" {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "project must be a project id")
			return
		}
		f.ProjectID = id
	}
	page := store.Page{Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit must be a whole number from 1 to %d", store.MaxLimit))
			return
		}
		page.Limit = n
	}
	res, err := s.cfg.Runs.ListRuns(r.Context(), c.tenant, f, page)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Runs []runView `json:"runs"`
		Next string    `json:"next,omitempty"`
	}{Runs: []runView{}, Next: res.Next}
	for _, run := range res.Runs {
		out.Runs = append(out.Runs, viewRun(run))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request, c call) {
	id, ok := s.runID(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Scheduler.Cancel(r.Context(), c.tenant, id, "cancelled by "+c.who.Username); err != nil {
		s.fail(w, r, err)
		return
	}
	run, err := s.cfg.Runs.GetRun(r.Context(), c.tenant, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, viewRun(run))
}

// rerun starts a new run from the exact bytes and variables of an old one.
func (s *Server) rerun(w http.ResponseWriter, r *http.Request, c call) { s.resubmit(w, r, c, false) }

// rerunFailed starts a new run of an ended run's exact bytes in which the
// steps that succeeded are reused, so only the failed, cancelled and
// skipped steps and what depends on them run again.
func (s *Server) rerunFailed(w http.ResponseWriter, r *http.Request, c call) {
	s.resubmit(w, r, c, true)
}

func (s *Server) resubmit(w http.ResponseWriter, r *http.Request, c call, failedOnly bool) {
	id, ok := s.runID(w, r)
	if !ok {
		return
	}
	old, err := s.cfg.Runs.GetRun(r.Context(), c.tenant, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var reuse []string
	trigger := "rerun"
	if failedOnly {
		switch {
		case !old.Status.Terminal():
			writeError(w, http.StatusConflict, "conflict", fmt.Sprintf("run %d is still %s: cancel it or wait for it to end", id, old.Status))
			return
		case old.Status == engine.RunSucceeded:
			writeError(w, http.StatusConflict, "conflict", fmt.Sprintf("run %d succeeded: nothing failed to re-run (use rerun to run it all again)", id))
			return
		}
		reuse, trigger = reusable(old.Steps), "rerun-failed"
	}
	run, err := s.cfg.Scheduler.SubmitReusing(r.Context(), store.NewRun{
		TenantID: c.tenant, ProjectID: old.ProjectID, File: old.File, Source: old.Source,
		Vars: old.Vars, Trigger: trigger, ReusedFrom: id,
	}, reuse, fmt.Sprintf("succeeded in run %d", id))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewRun(run))
}

// reusable names the steps a re-run of the failed steps keeps: those that
// succeeded and whose dependencies are all kept too (a step after one that
// runs again runs again, as in GitHub's "re-run failed jobs"). In file order.
func reusable(steps []store.Step) []string {
	keep := map[string]bool{}
	for _, st := range steps {
		keep[st.Name] = st.Status == engine.StepSucceeded
	}
	for changed := true; changed; {
		changed = false
		for _, st := range steps {
			if !keep[st.Name] {
				continue
			}
			for _, d := range st.DependsOn {
				if !keep[d] {
					keep[st.Name], changed = false, true
					break
				}
			}
		}
	}
	var names []string
	for _, st := range steps {
		if keep[st.Name] {
			names = append(names, st.Name)
		}
	}
	return names
}

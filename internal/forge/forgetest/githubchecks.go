package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

func (s *AppServer) installationRepos(w http.ResponseWriter, r *http.Request) {
	it, ok := s.installToken(w, r)
	if !ok {
		return
	}
	perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)

	s.mu.Lock()
	var all []*repoMeta
	for _, full := range s.insts[it.inst].repos {
		m := s.repos[full]
		if len(it.repos) == 0 || contains(it.repos, m.name) {
			all = append(all, m)
		}
	}
	s.mu.Unlock()
	from, to := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
	list := make([]map[string]any, 0, to-from)
	for _, m := range all[from:to] {
		list = append(list, s.repoJSON(m))
	}
	last := max((len(all)+perPage-1)/perPage, 1)
	link := func(p int, rel string) string {
		return fmt.Sprintf(`<%s/api/v3/installation/repositories?per_page=%d&page=%d>; rel="%s"`, s.URL, perPage, p, rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(page-1, "prev"), link(1, "first"))
	}
	for i, l := range links {
		if i == 0 {
			w.Header().Set("Link", l)
		} else {
			w.Header().Set("Link", w.Header().Get("Link")+", "+l)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "repository_selection": "all", "repositories": list})
}

var checkStatuses = map[string]bool{"queued": true, "in_progress": true, "completed": true}
var checkConclusions = map[string]bool{"success": true, "failure": true, "cancelled": true, "neutral": true,
	"skipped": true, "timed_out": true, "action_required": true}

type checkBody struct {
	Name       *string `json:"name"`
	HeadSHA    *string `json:"head_sha"`
	DetailsURL *string `json:"details_url"`
	Status     *string `json:"status"`
	Conclusion *string `json:"conclusion"`
	Output     *struct {
		Title   string `json:"title"`
		Summary string `json:"summary"`
	} `json:"output"`
}

func (s *AppServer) checkAccess(w http.ResponseWriter, r *http.Request, body any) (*repoMeta, bool) {
	it, ok := s.installToken(w, r)
	if !ok {
		return nil, false
	}
	m, ok := s.repoFor(w, it, r.PathValue("owner"), r.PathValue("repo"), "checks", "write")
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	deny := s.denyChecks
	s.mu.Unlock()
	if deny {
		ghError(w, http.StatusForbidden, "Resource not accessible by integration")
		return nil, false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(body); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON")
		return nil, false
	}
	return m, true
}

// apply validates b as GitHub does and applies it to c.
func (c *CheckRun) apply(b checkBody) string {
	if b.Status != nil && !checkStatuses[*b.Status] {
		return "Invalid request: status " + *b.Status
	}
	if b.Conclusion != nil && !checkConclusions[*b.Conclusion] {
		return "Invalid request: conclusion " + *b.Conclusion
	}
	if b.Output != nil && len(b.Output.Summary) > 65535 {
		return "Invalid request: output.summary is too long (maximum is 65535 characters)"
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.Name, b.Name)
	set(&c.DetailsURL, b.DetailsURL)
	if b.Conclusion != nil {
		c.Conclusion, c.Status = *b.Conclusion, "completed" // GitHub completes a run given a conclusion
	}
	if b.Status != nil && b.Conclusion == nil {
		c.Status = *b.Status
	}
	if c.Status == "completed" && c.Conclusion == "" {
		return "Invalid request: conclusion is required when status is completed"
	}
	if b.Output != nil {
		c.Title, c.Summary = b.Output.Title, b.Output.Summary
	}
	if len(c.History) == 0 || c.History[len(c.History)-1] != c.Status {
		c.History = append(c.History, c.Status)
	}
	return ""
}

func (s *AppServer) checkJSON(c *CheckRun) map[string]any {
	return map[string]any{"id": c.ID, "name": c.Name, "head_sha": c.HeadSHA, "status": c.Status,
		"conclusion": c.Conclusion, "details_url": c.DetailsURL,
		"output": map[string]any{"title": c.Title, "summary": c.Summary}}
}

func (s *AppServer) createCheckRun(w http.ResponseWriter, r *http.Request) {
	var b checkBody
	m, ok := s.checkAccess(w, r, &b)
	if !ok {
		return
	}
	if b.Name == nil || b.HeadSHA == nil || *b.Name == "" || *b.HeadSHA == "" {
		ghError(w, http.StatusUnprocessableEntity, "Invalid request: name and head_sha are required")
		return
	}
	c := &CheckRun{Owner: m.owner, Repo: m.name, HeadSHA: *b.HeadSHA, Status: "queued"}
	if msg := c.apply(b); msg != "" {
		ghError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	s.mu.Lock()
	s.nextID++
	c.ID = s.nextID
	s.checkRuns = append(s.checkRuns, c)
	out := s.checkJSON(c)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (s *AppServer) updateCheckRun(w http.ResponseWriter, r *http.Request) {
	var b checkBody
	m, ok := s.checkAccess(w, r, &b)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.checkRuns {
		if c.ID == id && c.Owner == m.owner && c.Repo == m.name {
			next := *c
			next.History = append([]string(nil), c.History...)
			if msg := next.apply(b); msg != "" {
				ghError(w, http.StatusUnprocessableEntity, msg)
				return
			}
			*c = next
			writeJSON(w, http.StatusOK, s.checkJSON(c))
			return
		}
	}
	ghError(w, http.StatusNotFound, "Not Found")
}

var statusStates = map[string]bool{"error": true, "failure": true, "pending": true, "success": true}

func (s *AppServer) createStatus(w http.ResponseWriter, r *http.Request) {
	it, ok := s.installToken(w, r)
	if !ok {
		return
	}
	m, ok := s.repoFor(w, it, r.PathValue("owner"), r.PathValue("repo"), "statuses", "write")
	if !ok {
		return
	}
	var b struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&b); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if !statusStates[b.State] || len(b.Description) > 140 {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed")
		return
	}
	if b.Context == "" {
		b.Context = "default"
	}
	st := CommitStatus{Owner: m.owner, Repo: m.name, SHA: r.PathValue("sha"), State: b.State,
		TargetURL: b.TargetURL, Description: b.Description, Context: b.Context}
	s.mu.Lock()
	s.statuses = append(s.statuses, st)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"state": st.State, "context": st.Context,
		"description": st.Description, "target_url": st.TargetURL})
}

package server_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// dagWorkflow is a diamond: B and C wait for A, D for both.
const dagWorkflow = `name: diamond
steps:
  - name: A
    command: echo a
  - name: B
    depends_on: [A]
    command: echo b
  - name: C
    depends_on: [A]
    command: echo c
  - name: D
    depends_on: [B, C]
    command: echo d
`

// TestRunsAPI drives the run routes end to end on both stores.
func TestRunsAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, harnessOpts{open: open})
		u := h.signUp("alice")

		t.Run("create and get with DAG", func(t *testing.T) { testDAG(t, h, u) })
		t.Run("multipart upload", func(t *testing.T) { testMultipart(t, h, u) })
		t.Run("list filters and pages", func(t *testing.T) { testList(t, h, u) })
		t.Run("rerun", func(t *testing.T) { testRerun(t, h, u) })
		t.Run("cancel", func(t *testing.T) { testCancel(t, h, u) })
	})
}

func testDAG(t *testing.T, h *harness, u *user) {
	created := h.submit(u, dagWorkflow, "?branch=main&sha=abc123")
	if created.ID == 0 || created.TenantID != u.tenant || created.File != ".runbook.yml" || created.Trigger != "api" || created.Branch != "main" {
		t.Fatalf("created run: %+v", created)
	}
	run := h.waitEnd(u, created.ID)
	if run.Status != "succeeded" {
		t.Fatalf("run ended %s (%s), want succeeded", run.Status, run.Reason)
	}
	wantDeps := map[string]string{"A": "", "B": "A", "C": "A", "D": "B,C"}
	if len(run.Steps) != len(wantDeps) {
		t.Fatalf("run has steps %+v, want A-D", run.Steps)
	}
	for _, s := range run.Steps {
		if got := strings.Join(s.DependsOn, ","); got != wantDeps[s.Name] || s.DependsOn == nil {
			t.Errorf("step %s depends_on %q, want %q (as a list, never null)", s.Name, got, wantDeps[s.Name])
		}
		if s.Status != "succeeded" || s.Attempt != 1 || s.ExitCode == nil || *s.ExitCode != 0 {
			t.Errorf("step %s: %+v, want succeeded on attempt 1 with exit code 0", s.Name, s)
		}
		if s.StartedAt == nil || s.FinishedAt == nil || s.DurationMS == nil || s.FinishedAt.Before(*s.StartedAt) ||
			*s.DurationMS != s.FinishedAt.Sub(*s.StartedAt).Milliseconds() {
			t.Errorf("step %s timings: started %v finished %v duration %v", s.Name, s.StartedAt, s.FinishedAt, s.DurationMS)
		}
	}
	// A true DAG: a dependent starts only after what it needs has finished.
	for name, deps := range wantDeps {
		for _, dep := range strings.Split(deps, ",") {
			if dep != "" && run.step(t, name).StartedAt.Before(*run.step(t, dep).FinishedAt) {
				t.Errorf("step %s started before its dependency %s finished", name, dep)
			}
		}
	}
	if run.StartedAt == nil || run.FinishedAt == nil || run.DurationMS == nil || run.LastSeq == 0 {
		t.Errorf("run timings/seq missing: %+v", run)
	}
}

func testMultipart(t *testing.T, h *harness, u *user) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "deploy.runbook.yml")
	fw.Write([]byte("steps:\n  - name: only\n    command: echo multipart\n"))
	mw.Close()
	r := h.request("POST", runsPath(u.tenant), u.access, &body, "Content-Type", mw.FormDataContentType())
	want(t, r, http.StatusCreated, "multipart upload")
	var run runJSON
	r.decode(t, &run)
	if run.File != "deploy.runbook.yml" {
		t.Errorf("file = %q, want the part's file name", run.File)
	}
	if end := h.waitEnd(u, run.ID); end.Status != "succeeded" {
		t.Errorf("multipart run ended %s", end.Status)
	}

	// A form without a "file" part says what to send.
	body.Reset()
	mw = multipart.NewWriter(&body)
	mw.WriteField("other", "x")
	mw.Close()
	r = h.request("POST", runsPath(u.tenant), u.access, &body, "Content-Type", mw.FormDataContentType())
	want(t, r, http.StatusBadRequest, "multipart without file")
	if !strings.Contains(string(r.body), `\"file\" part`) {
		t.Errorf("the error does not name the missing part: %s", r.body)
	}
	want(t, h.request("POST", runsPath(u.tenant), u.access, strings.NewReader("")), http.StatusBadRequest, "empty upload")
}

func testList(t *testing.T, h *harness, u *user) {
	// A fresh tenant, so earlier subtests' runs do not count.
	org := h.json("POST", "/api/v1/orgs", u.access, map[string]string{"name": "listing-" + fmt.Sprint(u.id)})
	want(t, org, http.StatusCreated, "create org")
	var m struct {
		TenantID int64 `json:"tenant_id"`
		Role     string
	}
	org.decode(t, &m)
	ou := *u
	ou.tenant = m.TenantID

	ok, bad := "steps:\n  - name: s\n    command: 'true'\n", "steps:\n  - name: s\n    command: 'exit 3'\n"
	want := map[string][]int64{} // "status/branch" → ids
	var all []int64
	for i, c := range []struct{ src, branch, status string }{
		{ok, "main", "succeeded"}, {bad, "main", "failed"}, {ok, "dev", "succeeded"},
		{ok, "main", "succeeded"}, {bad, "dev", "failed"},
	} {
		run := h.submit(&ou, c.src, "?branch="+c.branch)
		if end := h.waitEnd(&ou, run.ID); end.Status != c.status {
			t.Fatalf("run %d ended %s, want %s", i, end.Status, c.status)
		}
		want[c.status+"/"] = append(want[c.status+"/"], run.ID)
		want["/"+c.branch] = append(want["/"+c.branch], run.ID)
		want[c.status+"/"+c.branch] = append(want[c.status+"/"+c.branch], run.ID)
		all = append(all, run.ID)
	}
	want["/"] = all

	for key, ids := range want {
		status, branch, _ := strings.Cut(key, "/")
		got := listAll(t, h, &ou, fmt.Sprintf("status=%s&branch=%s", status, branch), 2)
		if !sameSet(got, ids) {
			t.Errorf("list status=%q branch=%q: got %v, want %v", status, branch, got, ids)
		}
	}
	r := h.request("GET", runsPath(ou.tenant)+"?limit=0", ou.access, nil)
	if r.code != http.StatusBadRequest {
		t.Errorf("limit=0: %s, want 400", r)
	}
	r = h.request("GET", runsPath(ou.tenant)+"?cursor=not-a-cursor", ou.access, nil)
	if r.code != http.StatusBadRequest {
		t.Errorf("a forged cursor: %s, want 400", r)
	}
}

// listAll follows the cursor through every page of size limit, failing on
// a repeated run.
func listAll(t *testing.T, h *harness, u *user, query string, limit int) []int64 {
	t.Helper()
	var ids []int64
	seen := map[int64]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatal("the cursor never ends")
		}
		r := h.request("GET", fmt.Sprintf("%s?%s&limit=%d&cursor=%s", runsPath(u.tenant), query, limit, cursor), u.access, nil)
		if r.code != http.StatusOK {
			t.Fatalf("list %s: %s", query, r)
		}
		var page struct {
			Runs []runJSON `json:"runs"`
			Next string    `json:"next"`
		}
		r.decode(t, &page)
		if len(page.Runs) > limit {
			t.Fatalf("a page of %d runs, limit %d", len(page.Runs), limit)
		}
		for _, run := range page.Runs {
			if seen[run.ID] {
				t.Fatalf("run %d listed twice across pages", run.ID)
			}
			seen[run.ID] = true
			ids = append(ids, run.ID)
		}
		if page.Next == "" {
			return ids
		}
		cursor = page.Next
	}
}

func sameSet(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[int64]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func testRerun(t *testing.T, h *harness, u *user) {
	src := "# the exact bytes matter\nsteps:\n  - name: s\n    command: echo rerun   \n"
	first := h.submit(u, src, "?branch=feature")
	h.waitEnd(u, first.ID)
	r := h.request("POST", runPath(u.tenant, first.ID)+"/rerun", u.access, nil)
	want(t, r, http.StatusCreated, "rerun")
	var again runJSON
	r.decode(t, &again)
	if again.ID == first.ID || again.Trigger != "rerun" || again.Branch != "feature" {
		t.Errorf("rerun: %+v, want a new run triggered by rerun on branch feature", again)
	}
	if end := h.waitEnd(u, again.ID); end.Status != "succeeded" {
		t.Errorf("rerun ended %s", end.Status)
	}
	stored, err := h.st.GetRun(context.Background(), u.tenant, again.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(stored.Source) != src {
		t.Errorf("the rerun's source is %q, want the first run's bytes %q", stored.Source, src)
	}
	want(t, h.request("POST", runPath(u.tenant, 987654)+"/rerun", u.access, nil), http.StatusNotFound, "rerun of an unknown run")
}

func testCancel(t *testing.T, h *harness, u *user) {
	g := newGate(t)
	run := h.submit(u, "steps:\n  - name: long\n    command: "+g.wait()+"\n  - name: after\n    depends_on: [long]\n    command: 'true'\n", "")
	h.waitRun(u, run.ID, "step long to run", func(r runJSON) bool { return r.step(t, "long").Status == "running" })
	r := h.request("POST", runPath(u.tenant, run.ID)+"/cancel", u.access, nil)
	want(t, r, http.StatusAccepted, "cancel")
	end := h.waitEnd(u, run.ID)
	if end.Status != "cancelled" {
		t.Fatalf("cancelled run ended %s (%s)", end.Status, end.Reason)
	}
	if !strings.Contains(end.Reason, u.name) {
		t.Errorf("the reason %q does not say who cancelled", end.Reason)
	}
	for _, s := range end.Steps {
		if s.Status != "cancelled" {
			t.Errorf("step %s is %s after cancel, want cancelled", s.Name, s.Status)
		}
	}
	want(t, h.request("POST", runPath(u.tenant, 987654)+"/cancel", u.access, nil), http.StatusNotFound, "cancel of an unknown run")
}

func TestInvalidWorkflow(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("bob")
	src := "steps:\n  - name: A\n    command: 'true'\n  - name: C\n    depends_on: [D]\n    command: 'true'\n"
	r := h.request("POST", runsPath(u.tenant), u.access, strings.NewReader(src))
	want(t, r, http.StatusUnprocessableEntity, "a workflow with an unknown dependency")
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Line, Column int
				Message      string
			} `json:"details"`
		} `json:"error"`
	}
	r.decode(t, &e)
	if e.Error.Code != "invalid_workflow" || len(e.Error.Details) == 0 {
		t.Fatalf("422 body: %s", r.body)
	}
	d := e.Error.Details[0]
	if d.Line != 5 || d.Column == 0 || !strings.Contains(d.Message, `"D"`) {
		t.Errorf("problem %+v, want line 5 with a column, naming D", d)
	}
	// Nothing was stored for a rejected file.
	list := h.request("GET", runsPath(u.tenant), u.access, nil)
	if !strings.Contains(string(list.body), `"runs":[]`) {
		t.Errorf("a rejected workflow left a run: %s", list.body)
	}
}

func TestNotFound(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("carol")
	run := h.submit(u, "steps:\n  - name: s\n    command: echo hi\n", "")
	h.waitEnd(u, run.ID)
	for _, c := range []struct{ method, path, contains string }{
		{"GET", "/api/v1/nope", "no such API route: GET /api/v1/nope"},
		{"DELETE", runPath(u.tenant, run.ID), "no such API route"},
		{"GET", runPath(u.tenant, 999999), `"not found"`},
		{"GET", runPath(u.tenant, 0), `"not found"`},
		{"GET", runsPath(u.tenant) + "/abc", `"not found"`},
		{"GET", runPath(u.tenant, run.ID) + "/steps/nope/logs", `no step \"nope\"`},
		{"GET", runPath(u.tenant, run.ID) + "/steps/nope/logs/raw", `no step \"nope\"`},
		{"GET", runPath(u.tenant, run.ID) + "/steps/nope/logs/follow", `no step \"nope\"`},
		{"GET", runPath(u.tenant, run.ID) + "/steps/s/logs?attempt=2", "attempts 1 to 1"},
		{"GET", runPath(u.tenant, run.ID) + "/steps/s/logs?attempt=0", "attempts 1 to 1"},
		{"GET", runPath(u.tenant, run.ID) + "/steps/s/logs/follow?attempt=9", "attempts 1 to 1"},
		{"GET", runPath(u.tenant, 999999) + "/events", `"not found"`},
	} {
		r := h.request(c.method, c.path, u.access, nil)
		if r.code != http.StatusNotFound || !strings.Contains(string(r.body), c.contains) {
			t.Errorf("%s %s: %s, want 404 containing %s", c.method, c.path, r, c.contains)
		}
	}
}

package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type usageJSON struct {
	Plan struct {
		Name          string `json:"name"`
		Minutes       int64  `json:"minutes"`
		MaxConcurrent int    `json:"max_concurrent"`
	} `json:"plan"`
	MinutesUsed      int64         `json:"minutes_used"`
	MinutesGranted   int64         `json:"minutes_granted"`
	MinutesRemaining int64         `json:"minutes_remaining"`
	Running          int           `json:"running"`
	Pending          int           `json:"pending"`
	Blocked          int           `json:"blocked"`
	Line             []waitingJSON `json:"line"`
	BlockedRuns      []waitingJSON `json:"blocked_runs"`
}

type waitingJSON struct {
	RunID       int64  `json:"run_id"`
	Position    int    `json:"position"`
	Reason      string `json:"reason"`
	File        string `json:"file"`
	RequestedAt string `json:"requested_at"`
}

func usagePath(tenant int64) string { return fmt.Sprintf("/api/v1/tenants/%d/usage", tenant) }

// TestUsageAndAdmin: an admin puts a tenant on a one-at-once plan; its
// second run waits in line and the usage route says so; only admins may
// change plans or grant minutes.
func TestUsageAndAdmin(t *testing.T) {
	h := newHarness(t, harnessOpts{admins: []string{"root"}})
	root, alice := h.signUp("root"), h.signUp("alice")

	r := h.request("GET", usagePath(alice.tenant), alice.access, nil)
	want(t, r, http.StatusOK, "usage")
	var u usageJSON
	r.decode(t, &u)
	if u.Plan.Name != "free" || u.Plan.Minutes != 2000 || u.Plan.MaxConcurrent != 2 || u.MinutesRemaining != 2000 || len(u.Line) != 0 {
		t.Fatalf("a new tenant's usage: %+v", u)
	}
	want(t, h.request("GET", usagePath(alice.tenant), root.access, nil), http.StatusNotFound, "another tenant's usage")

	plan := map[string]any{"minutes": 100, "max_concurrent": 1}
	want(t, h.json("PUT", "/api/v1/admin/plans/solo", alice.access, plan), http.StatusForbidden, "a plan from a non-admin")
	want(t, h.json("PUT", "/api/v1/admin/plans/solo", root.access, plan), http.StatusOK, "a plan from an admin")
	want(t, h.json("PUT", "/api/v1/admin/plans/bad", root.access, map[string]any{"minutes": 1, "max_concurrent": 0}), http.StatusBadRequest, "a plan with no slot")
	setPlan := fmt.Sprintf("/api/v1/admin/tenants/%d/plan", alice.tenant)
	want(t, h.json("PUT", setPlan, alice.access, map[string]string{"plan": "solo"}), http.StatusForbidden, "a non-admin changing its plan")
	want(t, h.json("PUT", setPlan, root.access, map[string]string{"plan": "nope"}), http.StatusNotFound, "an unknown plan")
	want(t, h.json("PUT", setPlan, root.access, map[string]string{"plan": "solo"}), http.StatusOK, "a plan change")

	src := "name: slow\nsteps:\n  - name: wait\n    command: sleep 30\n"
	first := h.submit(alice, src, "")
	second := h.submit(alice, src, "")
	if first.Status != "running" {
		t.Fatalf("first run: %s", first.Status)
	}
	got := h.getRun(alice, second.ID)
	r = h.request("GET", runPath(alice.tenant, second.ID), alice.access, nil)
	if got.Status != "queued" || !strings.Contains(string(r.body), `"admission":"pending"`) ||
		!strings.Contains(string(r.body), `"position":1`) || !strings.Contains(string(r.body), "1 at once") {
		t.Fatalf("second run on a one-at-once plan: %s", r.body)
	}
	r = h.request("GET", usagePath(alice.tenant), alice.access, nil)
	r.decode(t, &u)
	if u.Running != 1 || u.Pending != 1 || len(u.Line) != 1 || u.Line[0].RunID != second.ID || u.Line[0].Position != 1 ||
		!strings.Contains(u.Line[0].Reason, "1 at once") || u.Line[0].File == "" || u.Line[0].RequestedAt == "" || len(u.BlockedRuns) != 0 {
		t.Fatalf("usage with one waiting: %+v", u)
	}

	grants := fmt.Sprintf("/api/v1/admin/tenants/%d/grants", alice.tenant)
	want(t, h.json("POST", grants, alice.access, map[string]int{"minutes": 50}), http.StatusForbidden, "a self-grant")
	want(t, h.json("POST", grants, root.access, map[string]int{"minutes": 0}), http.StatusBadRequest, "a zero grant")
	r = h.json("POST", grants, root.access, map[string]int{"minutes": 50})
	want(t, r, http.StatusOK, "a grant")
	r.decode(t, &u)
	if u.MinutesGranted != 50 || u.MinutesRemaining != 150 {
		t.Fatalf("after a grant of 50: %+v", u)
	}
	want(t, h.request("POST", runPath(alice.tenant, second.ID)+"/cancel", alice.access, nil), http.StatusAccepted, "cancel the waiting run")
	want(t, h.request("POST", runPath(alice.tenant, first.ID)+"/cancel", alice.access, nil), http.StatusAccepted, "cancel the running run")

	m := h.request("GET", "/metrics", "", nil)
	if !strings.Contains(string(m.body), fmt.Sprintf(`runbook_quota_minutes{kind="granted",plan="solo",tenant="%d"} 50`, alice.tenant)) {
		t.Errorf("/metrics lacks the tenant's granted minutes")
	}
}

// TestUsageBlockedRuns: on a plan with no minutes a new run is blocked, and
// the usage route lists it with why, oldest first, outside the pending line.
func TestUsageBlockedRuns(t *testing.T) {
	h := newHarness(t, harnessOpts{admins: []string{"root"}})
	root, alice := h.signUp("root"), h.signUp("alice")
	want(t, h.json("PUT", "/api/v1/admin/plans/empty", root.access, map[string]any{"minutes": 0, "max_concurrent": 1}), http.StatusOK, "a plan without minutes")
	want(t, h.json("PUT", fmt.Sprintf("/api/v1/admin/tenants/%d/plan", alice.tenant), root.access, map[string]string{"plan": "empty"}), http.StatusOK, "a plan change")

	src := "name: later\nsteps:\n  - name: one\n    command: \"true\"\n"
	first, second := h.submit(alice, src, ""), h.submit(alice, src, "")
	r := h.request("GET", runPath(alice.tenant, first.ID), alice.access, nil)
	if first.Status != "queued" || !strings.Contains(string(r.body), `"admission":"blocked"`) || !strings.Contains(string(r.body), "quota exhausted") {
		t.Fatalf("a run without minutes: %s", r.body)
	}
	var u usageJSON
	r = h.request("GET", usagePath(alice.tenant), alice.access, nil)
	want(t, r, http.StatusOK, "usage")
	r.decode(t, &u)
	if u.Blocked != 2 || len(u.Line) != 0 || len(u.BlockedRuns) != 2 || u.BlockedRuns[0].RunID != first.ID || u.BlockedRuns[1].RunID != second.ID {
		t.Fatalf("usage with two blocked runs: %+v", u)
	}
	for _, b := range u.BlockedRuns {
		if !strings.Contains(b.Reason, "quota exhausted") || b.Position != 0 || b.File == "" {
			t.Fatalf("a blocked run in usage: %+v", b)
		}
	}
	want(t, h.request("POST", runPath(alice.tenant, first.ID)+"/cancel", alice.access, nil), http.StatusAccepted, "cancel a blocked run")
	r = h.request("GET", usagePath(alice.tenant), alice.access, nil)
	r.decode(t, &u)
	if len(u.BlockedRuns) != 1 || u.BlockedRuns[0].RunID != second.ID {
		t.Fatalf("usage after cancelling a blocked run: %+v", u.BlockedRuns)
	}
}

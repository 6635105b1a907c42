package server_test

import (
	"encoding/json"
	"testing"
)

// A run started from the web app says so, and a single run carries its
// workflow's name.
func TestUIRunTriggerAndWorkflowName(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("nameduser")
	src := "name: CI build\nsteps:\n  - { name: a, command: 'true' }\n"
	ui := h.submit(u, src, "?trigger=ui&event=manual")
	api := h.submit(u, src, "")
	odd := h.submit(u, src, "?trigger=cron")
	for _, c := range []struct {
		id   int64
		want string
	}{{ui.ID, "ui"}, {api.ID, "api"}, {odd.ID, "api"}} {
		if got := h.getRun(u, c.id).Trigger; got != c.want {
			t.Errorf("run %d: trigger %q, want %q", c.id, got, c.want)
		}
	}
	r := h.request("GET", runPath(u.tenant, ui.ID), u.access, nil)
	var v struct{ Name string }
	if err := json.Unmarshal(r.body, &v); err != nil || v.Name != "CI build" {
		t.Errorf("run name %q (%v), want %q", v.Name, err, "CI build")
	}
}

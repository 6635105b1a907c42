package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func tenantEventsPath(tenant int64) string { return fmt.Sprintf("/api/v1/tenants/%d/events", tenant) }

// TestFollowTenantRuns follows a tenant's runs list live: a run created
// after the stream began arrives, then its change to succeeded, and another
// tenant's runs never do; a non-member cannot open the stream.
func TestFollowTenantRuns(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		// No rescan during the test: what arrives, the bus brought.
		h := newHarness(t, harnessOpts{open: open, tenantRescan: time.Hour})
		u, other := h.signUp("tess"), h.signUp("otto")

		for _, who := range []*user{other, u} {
			// A tenant one is not in looks missing, like any tenant route.
			target := u.tenant
			if who == u {
				target = other.tenant
			}
			want(t, h.request("GET", tenantEventsPath(target), who.access, nil), http.StatusNotFound, "another tenant's events")
		}

		s := h.follow(tenantEventsPath(u.tenant), u.access, "")
		if e := s.next(); e.Event != "ready" || e.hasID {
			t.Fatalf("first event %+v, want ready without an id", e)
		}

		// Another tenant's run, started and ended while u's stream is open.
		foreign := h.submit(other, "steps:\n  - { name: x, command: 'exit 0' }\n", "")
		h.waitEnd(other, foreign.ID)

		g := newGate(t)
		run := h.submit(u, "steps:\n  - name: A\n    command: "+g.wait()+"\n", "")
		next := func() runJSON {
			t.Helper()
			e := s.next()
			if e.Event != "run" || e.hasID {
				t.Fatalf("event %+v, want a run event without an id", e)
			}
			var v runJSON
			e.decode(t, &v)
			if v.TenantID != u.tenant || v.ID == foreign.ID {
				t.Fatalf("tenant %d's stream sent run %d of tenant %d", u.tenant, v.ID, v.TenantID)
			}
			if len(v.Steps) != 0 {
				t.Errorf("run events leave steps out, like the list: %+v", v.Steps)
			}
			return v
		}
		created := next()
		if created.ID != run.ID || created.terminal() || created.File == "" {
			t.Fatalf("first run event %+v, want run %d in progress", created, run.ID)
		}
		g.open(t)
		last := created
		for !last.terminal() {
			last = next()
			if last.ID != run.ID {
				t.Fatalf("an event for run %d, which did not change", last.ID)
			}
		}
		if last.Status != "succeeded" || last.FinishedAt == nil || last.DurationMS == nil {
			t.Errorf("last event %+v, want succeeded with its end and duration", last)
		}
		if got := h.getRun(u, run.ID); got.Status != last.Status {
			t.Errorf("the stream says %s, the API %s", last.Status, got.Status)
		}

		// A stream opened now starts from here: the ended run is not replayed,
		// and the next change is the next run's.
		s.close()
		s2 := h.follow(tenantEventsPath(u.tenant), u.access, "")
		if e := s2.next(); e.Event != "ready" {
			t.Fatalf("first event %+v, want ready", e)
		}
		second := h.submit(u, "steps:\n  - { name: y, command: 'exit 1' }\n", "")
		for {
			e := s2.next()
			var v runJSON
			e.decode(t, &v)
			if e.Event != "run" || v.ID != second.ID {
				t.Fatalf("event %+v, want only run %d", e, second.ID)
			}
			if v.terminal() {
				if v.Status != "failed" {
					t.Errorf("run %d ended %s, want failed", v.ID, v.Status)
				}
				break
			}
		}
	})
}

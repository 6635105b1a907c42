package server

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/store"
)

// defaultTenantRescan is Config.TenantRescan's default.
const defaultTenantRescan = 10 * time.Second

// tenantScanLimit is how many of the newest runs a tenant stream compares
// on each note; older runs are watched only while they are in progress.
const tenantScanLimit = 100

// runMark is what the runs list shows of a run's state: a change in any of
// it is sent.
type runMark struct {
	status    engine.RunStatus
	admission string
	reason    string
	started   time.Time
	finished  time.Time
}

func markOf(v runView) runMark {
	m := runMark{status: v.Status, admission: v.Admission, reason: v.Reason}
	if v.StartedAt != nil {
		m.started = *v.StartedAt
	}
	if v.FinishedAt != nil {
		m.finished = *v.FinishedAt
	}
	return m
}

// followTenant streams the tenant's run changes over SSE: an event "run"
// (a run as GET /runs lists it) for every run created or changed after the
// stream began. There is no tenant-wide sequence to resume from, so it is
// snapshot-then-stream: the first event, "ready", says the stream is
// watching, and a client that (re)connects reads the list with GET /runs
// after it and applies the "run" events that follow. Runs of the tenant
// only; membership is checked like every tenant route, and again every
// Config.TenantRescan: a stream whose token expired or was revoked, or whose user
// left the tenant, gets "end" with the reason and is closed.
func (s *Server) followTenant(w http.ResponseWriter, r *http.Request, c call) {
	ctx := r.Context()
	// Subscribe before the baseline read, so nothing committed in between
	// is missed.
	sub := s.cfg.Bus.Subscribe(eventbus.TenantTopic(c.tenant))
	defer sub.Close()
	seen := map[int64]runMark{}
	if _, err := s.scanTenant(ctx, c.tenant, seen, true); err != nil {
		s.fail(w, r, err)
		return
	}
	out := startSSE(w, s.cfg.Heartbeat)
	defer out.close()
	if out.event(-1, "ready", struct{}{}) != nil || out.flush() != nil {
		return
	}
	tick := time.NewTicker(s.cfg.TenantRescan)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.C:
		case <-tick.C:
			if why := s.revoked(ctx, r, c); why != "" {
				out.event(-1, "end", map[string]string{"reason": why})
				return
			}
		}
		changed, err := s.scanTenant(ctx, c.tenant, seen, false)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("follow tenant: read runs", "tenant", c.tenant, "err", err)
			}
			return
		}
		for _, v := range changed {
			if out.event(-1, "run", v) != nil {
				return
			}
		}
		if len(changed) > 0 && out.flush() != nil {
			return
		}
	}
}

// revoked says why the caller of a long stream may no longer read it, or
// "" while it may. A store that fails to answer is not a reason: the next
// check decides.
func (s *Server) revoked(ctx context.Context, r *http.Request, c call) string {
	token, _ := bearer(r)
	who, err := s.cfg.Accounts.Authenticate(ctx, token)
	if err != nil || who.UserID != c.who.UserID {
		return "the access token expired or was revoked: reconnect with a fresh one"
	}
	if err := s.cfg.Accounts.CheckMember(ctx, c.who.UserID, c.tenant); errors.Is(err, store.ErrNotFound) {
		s.cache.members.Remove(memberKey{c.who.UserID, c.tenant})
		return "no longer a member of this tenant"
	}
	return ""
}

// scanTenant reads the tenant's newest runs, and every run seen in
// progress, and returns those whose mark differs from seen (all of them
// when baseline is set, and then returns none), updating seen. A run that
// ended and left the newest page is dropped from seen once reported.
func (s *Server) scanTenant(ctx context.Context, tenant int64, seen map[int64]runMark, baseline bool) ([]runView, error) {
	var changed []runView
	current := map[int64]bool{}
	note := func(v runView) {
		v.Steps = nil
		current[v.ID] = true
		m := markOf(v)
		if old, ok := seen[v.ID]; !ok || old != m {
			seen[v.ID] = m
			if !baseline {
				changed = append(changed, v)
			}
		}
	}
	page, err := s.cfg.Runs.ListRuns(ctx, tenant, store.RunFilter{}, store.Page{Limit: tenantScanLimit})
	if err != nil {
		return nil, err
	}
	for _, run := range page.Runs {
		note(viewRun(run))
	}
	if baseline {
		// Older runs still in progress will change too: watch them.
		for _, st := range []engine.RunStatus{engine.RunQueued, engine.RunRunning} {
			p, err := s.cfg.Runs.ListRuns(ctx, tenant, store.RunFilter{Status: st}, store.Page{Limit: store.MaxLimit})
			if err != nil {
				return nil, err
			}
			for _, run := range p.Runs {
				note(viewRun(run))
			}
		}
		return nil, nil
	}
	for id, m := range seen {
		if current[id] {
			continue
		}
		if m.status.Terminal() {
			delete(seen, id) // ended and older than the newest page: nothing more to watch
			continue
		}
		run, err := s.cfg.Runs.GetRun(ctx, tenant, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			delete(seen, id) // gone (or unreadable): stop watching rather than fail the stream
			continue
		}
		note(viewRun(run))
	}
	slices.SortFunc(changed, func(a, b runView) int { return cmp.Compare(a.ID, b.ID) })
	return changed, nil
}

package server

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
	"github.com/runbookhq/runbook/internal/store"
)

// Quotas is what the usage and admin routes need of the store.
type Quotas interface {
	Usage(ctx context.Context, tenantID int64) (store.Usage, error)
	Usages(ctx context.Context) ([]store.Usage, error)
	Plans(ctx context.Context) ([]quota.Plan, error)
	PutPlan(ctx context.Context, p quota.Plan) error
	SetPlan(ctx context.Context, tenantID int64, plan string) error
	GrantMinutes(ctx context.Context, tenantID, minutes int64) error
}

func (s *Server) usageRoutes() {
	if s.cfg.Quotas != nil {
		s.metrics.reg.MustRegister(&usageCollector{q: s.cfg.Quotas, log: s.log})
	}
	s.handle("GET /api/v1/tenants/{tenant}/usage", s.member(s.usage))
	s.handle("GET /api/v1/plans", s.signedIn(s.listPlans))
	s.handle("PUT /api/v1/admin/plans/{plan}", s.signedIn(s.admin(s.putPlan)))
	s.handle("PUT /api/v1/admin/tenants/{tenant}/plan", s.signedIn(s.admin(s.setPlan)))
	s.handle("POST /api/v1/admin/tenants/{tenant}/grants", s.signedIn(s.admin(s.grant)))
}

type usageView struct {
	TenantID         int64       `json:"tenant_id"`
	Plan             quota.Plan  `json:"plan"`
	CycleStart       time.Time   `json:"cycle_start"`
	CycleEnd         time.Time   `json:"cycle_end"`
	MinutesUsed      int64       `json:"minutes_used"`
	MinutesGranted   int64       `json:"minutes_granted"`
	MinutesDebt      int64       `json:"minutes_debt"`
	MinutesRemaining int64       `json:"minutes_remaining"`
	Running          int         `json:"running"`
	Pending          int         `json:"pending"`
	Blocked          int         `json:"blocked"`
	Line             []lineEntry `json:"line"`
	// BlockedRuns are the runs waiting for minutes, oldest first: they are
	// in no line until a grant or a new cycle.
	BlockedRuns []lineEntry `json:"blocked_runs"`
}

// lineEntry is a waiting run. Why it waits and what it is come from the
// run itself; they are absent for a run that ended or was admitted between
// the two reads.
type lineEntry struct {
	RunID       int64      `json:"run_id"`
	Position    int        `json:"position,omitempty"` // pending runs only
	Reason      string     `json:"reason,omitempty"`
	File        string     `json:"file,omitempty"`
	Branch      string     `json:"branch,omitempty"`
	RequestedAt *time.Time `json:"requested_at,omitempty"`
}

func waiting(r store.Run) lineEntry {
	return lineEntry{RunID: r.ID, Reason: r.Reason, File: r.File, Branch: r.Vars.Branch, RequestedAt: timePtr(r.RequestedAt)}
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request, c call) {
	q := s.cfg.Quotas
	if q == nil {
		writeError(w, http.StatusNotImplemented, "not_configured", "this server keeps no quotas")
		return
	}
	u, err := q.Usage(r.Context(), c.tenant)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := usageView{
		TenantID: u.TenantID, Plan: u.Account.Plan, CycleStart: u.Account.CycleStart, CycleEnd: u.CycleEnd,
		MinutesUsed: u.Account.Used, MinutesGranted: u.Account.Granted, MinutesDebt: u.Account.Debt,
		MinutesRemaining: u.Account.Remaining(), Running: u.Running, Pending: u.Pending, Blocked: u.Blocked,
		Line: []lineEntry{}, BlockedRuns: []lineEntry{},
	}
	// The waiting runs are queued ones: one read gives the details of the
	// line and the blocked runs, which the quota store does not list.
	queued := map[int64]store.Run{}
	if u.Pending+u.Blocked > 0 {
		page, err := s.cfg.Runs.ListRuns(r.Context(), c.tenant, store.RunFilter{Status: engine.RunQueued}, store.Page{Limit: store.MaxLimit})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, run := range page.Runs {
			queued[run.ID] = run
		}
		for _, run := range slices.Backward(page.Runs) { // newest first: backwards is oldest first
			if run.Admission == quota.Blocked && len(v.BlockedRuns) < store.QueueLimit {
				v.BlockedRuns = append(v.BlockedRuns, waiting(run))
			}
		}
	}
	for i, id := range u.Queue {
		e := lineEntry{RunID: id}
		if run, ok := queued[id]; ok && run.Admission == quota.Pending {
			e = waiting(run)
		}
		e.Position = i + 1
		v.Line = append(v.Line, e)
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) listPlans(w http.ResponseWriter, r *http.Request, _ call) {
	q := s.cfg.Quotas
	if q == nil {
		writeError(w, http.StatusNotImplemented, "not_configured", "this server keeps no quotas")
		return
	}
	ps, err := q.Plans(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": ps})
}

// admin lets only the users named in Config.Admins through; others get 403
// (the route's existence is no secret: it is in the API description).
func (s *Server) admin(h func(http.ResponseWriter, *http.Request, call)) func(http.ResponseWriter, *http.Request, call) {
	return func(w http.ResponseWriter, r *http.Request, c call) {
		if !slices.Contains(s.cfg.Admins, c.who.Username) {
			writeError(w, http.StatusForbidden, "forbidden", "only the server's admins (runbook server --admins) may change plans and grant minutes")
			return
		}
		if s.cfg.Quotas == nil {
			writeError(w, http.StatusNotImplemented, "not_configured", "this server keeps no quotas")
			return
		}
		h(w, r, c)
	}
}

func (s *Server) putPlan(w http.ResponseWriter, r *http.Request, _ call) {
	var body struct {
		Minutes       int64 `json:"minutes"`
		MaxConcurrent int   `json:"max_concurrent"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	p := quota.Plan{Name: r.PathValue("plan"), Minutes: body.Minutes, MaxConcurrent: body.MaxConcurrent}
	if err := s.cfg.Quotas.PutPlan(r.Context(), p); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("plan saved", "plan", p.Name, "minutes", p.Minutes, "max_concurrent", p.MaxConcurrent)
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) setPlan(w http.ResponseWriter, r *http.Request, c call) {
	tenant, ok := pathTenant(w, r)
	if !ok {
		return
	}
	var body struct {
		Plan string `json:"plan"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.cfg.Quotas.SetPlan(r.Context(), tenant, body.Plan); err != nil {
		s.failOperator(w, r, err)
		return
	}
	s.log.Info("tenant plan changed", "tenant", tenant, "plan", body.Plan, "by", c.who.Username)
	s.usageOf(w, r, tenant)
}

func (s *Server) grant(w http.ResponseWriter, r *http.Request, c call) {
	tenant, ok := pathTenant(w, r)
	if !ok {
		return
	}
	var body struct {
		Minutes int64 `json:"minutes"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.cfg.Quotas.GrantMinutes(r.Context(), tenant, body.Minutes); err != nil {
		s.failOperator(w, r, err)
		return
	}
	s.log.Info("minutes granted", "tenant", tenant, "minutes", body.Minutes, "by", c.who.Username)
	s.usageOf(w, r, tenant)
}

// usageOf answers an admin change with the tenant's usage after it.
func (s *Server) usageOf(w http.ResponseWriter, r *http.Request, tenant int64) {
	s.usage(w, r, call{tenant: tenant})
}

func pathTenant(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("tenant"), 10, 64)
	if err != nil || id <= 0 {
		notFound(w)
		return 0, false
	}
	return id, true
}

// usageCollector reads every tenant's quota standing at scrape time.
type usageCollector struct {
	q   Quotas
	log *slog.Logger
}

var (
	usageLabels   = []string{"tenant", "plan"}
	minutesDesc   = prometheus.NewDesc("runbook_quota_minutes", "Runtime minutes this cycle by kind (used, remaining, debt, granted).", append(usageLabels, "kind"), nil)
	admissionDesc = prometheus.NewDesc("runbook_quota_runs", "A tenant's runs by admission (running, pending, blocked).", append(usageLabels, "admission"), nil)
)

func (c *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- minutesDesc
	ch <- admissionDesc
}

func (c *usageCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	us, err := c.q.Usages(ctx)
	if err != nil {
		c.log.Warn("metrics: reading quota usage", "err", err)
		return
	}
	for _, u := range us {
		t, p := strconv.FormatInt(u.TenantID, 10), u.Account.Plan.Name
		for kind, v := range map[string]int64{"used": u.Account.Used, "remaining": u.Account.Remaining(), "debt": u.Account.Debt, "granted": u.Account.Granted} {
			ch <- prometheus.MustNewConstMetric(minutesDesc, prometheus.GaugeValue, float64(v), t, p, kind)
		}
		for ad, n := range map[string]int{"running": u.Running, "pending": u.Pending, "blocked": u.Blocked} {
			ch <- prometheus.MustNewConstMetric(admissionDesc, prometheus.GaugeValue, float64(n), t, p, ad)
		}
	}
}

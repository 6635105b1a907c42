package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/scheduler"
	"github.com/runbookhq/runbook/internal/server"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/sqlite"
	"github.com/runbookhq/runbook/internal/testdb"
)

// waitLimit bounds every wait on a real condition; reaching it fails the test.
const waitLimit = 30 * time.Second

// fullStore is what the server keeps in its database: runs and accounts.
type fullStore interface {
	store.Store
	account.Repo
}

type opener func(t *testing.T, dir string) fullStore

func openSQLite(t *testing.T, dir string) fullStore {
	s, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("sqlite.Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openPostgres opens a fresh database for the test (see testdb).
func openPostgres(t *testing.T, _ string) fullStore {
	s, err := postgres.Open(context.Background(), testdb.New(t))
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() }) // before the drop: cleanups run LIFO
	return s
}

// eachStore runs fn on SQLite and on Postgres.
func eachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	for _, b := range []struct {
		name string
		open opener
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

// clock is the accounts' clock; tests move it to expire tokens.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// syncBuffer collects every log line of the server, scheduler and accounts.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is the whole server, built from real parts in a temporary
// directory and served over real HTTP.
type harness struct {
	t      *testing.T
	url    string
	dir    string
	st     fullStore
	bus    *eventbus.Bus
	clock  *clock
	logs   *syncBuffer
	client *http.Client

	mu        sync.Mutex
	errBodies [][]byte // every error response, scanned for secrets at the end
	secrets   []string // passwords and tokens that must never leak
}

type harnessOpts struct {
	open         opener
	accountLimit account.Limit
	admins       []string
	tenantRescan time.Duration // Config.TenantRescan
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.open == nil {
		o.open = openSQLite
	}
	h := &harness{t: t, dir: t.TempDir(), bus: eventbus.New(), clock: &clock{}, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.st = o.open(t, h.dir)
	logs, err := logstore.Open(filepath.Join(h.dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	secret := []byte(testSecret)
	accounts, err := account.New(h.st, account.Config{
		Secret: secret, Now: h.clock.Now, Logger: log, AccountLimit: o.accountLimit,
		Hasher: account.Argon2id{Memory: 1024, Time: 1, Threads: 1}, // cheap: tests sign in often
	})
	if err != nil {
		t.Fatal(err)
	}
	procs, err := scheduler.NewProcesses(h.dir, log)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := local.New(local.Options{GracePeriod: 2 * time.Second, OnStart: procs.Started})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exe.Close() })
	sched, err := scheduler.New(scheduler.Config{Store: h.st, Executor: exe, Processes: procs, Logs: logs, Bus: h.bus, DataDir: h.dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Forced: a failed test must leave no process behind.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		sched.Shutdown(ctx, 0)
	})
	api := server.New(server.Config{Runs: h.st, Quotas: h.st, Scheduler: sched, Logs: logs, Bus: h.bus, Accounts: accounts, Logger: log, Admins: o.admins,
		TenantRescan: o.tenantRescan})
	srv := httptest.NewUnstartedServer(api)
	base, endStreams := context.WithCancel(context.Background())
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	t.Cleanup(func() {
		endStreams() // SSE handlers return, so Close does not wait on them
		srv.CloseClientConnections()
		srv.Close()
	})
	h.url, h.client = srv.URL, srv.Client()
	t.Cleanup(h.checkNoLeaks) // runs first, while everything is still up
	return h
}

// secret registers a value that must appear in no log line and no error body.
func (h *harness) secret(s string) {
	h.mu.Lock()
	h.secrets = append(h.secrets, s)
	h.mu.Unlock()
}

func (h *harness) checkNoLeaks() {
	h.mu.Lock()
	defer h.mu.Unlock()
	logs := h.logs.String()
	for _, s := range h.secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			h.t.Errorf("a secret (%.8s…) appears in the server log", s)
		}
		for _, b := range h.errBodies {
			if bytes.Contains(b, []byte(s)) {
				h.t.Errorf("a secret (%.8s…) appears in an error response: %s", s, b)
			}
		}
	}
}

// resp is an answer read in full.
type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func (r *resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r *resp) String() string { return fmt.Sprintf("%d %s", r.code, bytes.TrimSpace(r.body)) }

// request sends a request; hdr is pairs of header name and value.
func (h *harness) request(method, path, token string, body io.Reader, hdr ...string) *resp {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	if res.StatusCode >= 400 {
		h.mu.Lock()
		h.errBodies = append(h.errBodies, b)
		h.mu.Unlock()
	}
	return &resp{code: res.StatusCode, hdr: res.Header, body: b}
}

// json sends v as a JSON body (nil: no body).
func (h *harness) json(method, path, token string, v any) *resp {
	h.t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	return h.request(method, path, token, body, "Content-Type", "application/json")
}

// want fails the test unless r has the status code.
func want(t *testing.T, r *resp, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: got %s, want status %d", what, r, code)
	}
}

// user is a signed-up, logged-in account.
type user struct {
	name, password  string
	id, tenant      int64
	access, refresh string
}

type tokensJSON struct {
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func (h *harness) signUp(name string) *user {
	h.t.Helper()
	u := &user{name: name, password: "pw-" + name + "-correct horse battery"}
	h.secret(u.password)
	r := h.json("POST", "/api/v1/auth/signup", "", map[string]string{"email": name + "@example.com", "username": name, "password": u.password})
	want(h.t, r, http.StatusCreated, "sign up "+name)
	var out struct {
		User struct {
			ID       int64 `json:"id"`
			TenantID int64 `json:"tenant_id"`
		} `json:"user"`
	}
	r.decode(h.t, &out)
	u.id, u.tenant = out.User.ID, out.User.TenantID
	if u.id == 0 || u.tenant == 0 {
		h.t.Fatalf("sign up %s: no user or tenant id in %s", name, r.body)
	}
	h.login(u)
	return u
}

func (h *harness) login(u *user) tokensJSON {
	h.t.Helper()
	r := h.json("POST", "/api/v1/auth/login", "", map[string]string{"login": u.name, "password": u.password})
	want(h.t, r, http.StatusOK, "login "+u.name)
	var tk tokensJSON
	r.decode(h.t, &tk)
	if tk.TokenType != "Bearer" || tk.AccessToken == "" || !strings.HasPrefix(tk.RefreshToken, account.RefreshPrefix) || tk.ExpiresIn <= 0 {
		h.t.Fatalf("login %s: unexpected tokens %s", u.name, r.body)
	}
	h.secret(tk.AccessToken)
	h.secret(tk.RefreshToken)
	u.access, u.refresh = tk.AccessToken, tk.RefreshToken
	return tk
}

// runJSON mirrors the API's run.
type runJSON struct {
	ID          int64      `json:"id"`
	TenantID    int64      `json:"tenant_id"`
	File        string     `json:"file"`
	Trigger     string     `json:"trigger"`
	Branch      string     `json:"branch"`
	Status      string     `json:"status"`
	Reason      string     `json:"reason"`
	RequestedAt time.Time  `json:"requested_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	DurationMS  *int64     `json:"duration_ms"`
	LastSeq     int64      `json:"last_seq"`
	Steps       []stepJSON `json:"steps"`
}

type stepJSON struct {
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	Attempt    int        `json:"attempt"`
	ExitCode   *int       `json:"exit_code"`
	DependsOn  []string   `json:"depends_on"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	DurationMS *int64     `json:"duration_ms"`
}

func (r runJSON) step(t *testing.T, name string) stepJSON {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("run %d has no step %q: %+v", r.ID, name, r.Steps)
	return stepJSON{}
}

func (r runJSON) terminal() bool {
	return r.Status == "succeeded" || r.Status == "failed" || r.Status == "cancelled"
}

func runsPath(tenant int64) string { return fmt.Sprintf("/api/v1/tenants/%d/runs", tenant) }

func runPath(tenant, run int64) string { return fmt.Sprintf("%s/%d", runsPath(tenant), run) }

// submit uploads src as the request body; query is appended as is.
func (h *harness) submit(u *user, src, query string) runJSON {
	h.t.Helper()
	r := h.request("POST", runsPath(u.tenant)+query, u.access, strings.NewReader(src), "Content-Type", "application/yaml")
	want(h.t, r, http.StatusCreated, "create run")
	var run runJSON
	r.decode(h.t, &run)
	return run
}

func (h *harness) getRun(u *user, id int64) runJSON {
	h.t.Helper()
	r := h.request("GET", runPath(u.tenant, id), u.access, nil)
	want(h.t, r, http.StatusOK, "get run")
	var run runJSON
	r.decode(h.t, &run)
	return run
}

// waitRun reads the run through the API at every change the bus announces
// until ok holds.
func (h *harness) waitRun(u *user, id int64, what string, ok func(runJSON) bool) runJSON {
	h.t.Helper()
	sub := h.bus.Subscribe(eventbus.RunTopic(id))
	defer sub.Close()
	deadline := time.After(waitLimit)
	for {
		run := h.getRun(u, id)
		if ok(run) {
			return run
		}
		select {
		case <-sub.C:
		case <-deadline:
			h.t.Fatalf("run %d: waited %v for %s; it is %s with steps %+v", id, waitLimit, what, run.Status, run.Steps)
		}
	}
}

func (h *harness) waitEnd(u *user, id int64) runJSON {
	h.t.Helper()
	return h.waitRun(u, id, "its end", runJSON.terminal)
}

// gate is a file a step waits for, so a test decides when the step goes on.
type gate string

func newGate(t *testing.T) gate { return gate(filepath.Join(t.TempDir(), "open")) }

// wait is the shell that blocks until the gate opens.
func (g gate) wait() string { return fmt.Sprintf("while [ ! -e %q ]; do sleep 0.02; done", string(g)) }

func (g gate) open(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(string(g), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

package githubapp_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/forge/forgetest"
	"github.com/runbookhq/runbook/internal/forge/github"
	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/scheduler"
	"github.com/runbookhq/runbook/internal/server"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlite"
)

// runbookBin is the runbook binary that `repo_cloner` on each step's PATH
// links to, built once for the package.
var runbookBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "githubapp-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runbookBin = filepath.Join(dir, "runbook")
	out, err := exec.Command("go", "build", "-o", runbookBin, "github.com/runbookhq/runbook/cmd/runbook").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building runbook for repo_cloner: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	secret = "webhook-s3cret"
	instID = int64(7)
)

// waitLimit bounds every wait on a real condition; reaching it fails.
const waitLimit = 60 * time.Second

// rig is the whole path: a fake GitHub, a real SQLite store, the
// scheduler with the local executor, the service, and the HTTP server.
type rig struct {
	t      *testing.T
	gh     *forgetest.AppServer
	st     *sqlite.Store
	logs   *logstore.Store
	svc    *githubapp.Service
	srv    *httptest.Server
	tenant int64
	n      int // deliveries sent
	// newService makes another Service on the same store and scheduler:
	// what a restarted server has.
	newService func() *githubapp.Service
	accounts   *account.Service
}

type rigOpts struct {
	key []byte // the app's private key; nil: the right one
	gh  *forgetest.AppServer
	dir string
	// poll and waitUpdate set the service's Config.Poll and WaitUpdate
	// (0: the defaults).
	poll, waitUpdate time.Duration
	// repo wraps the store as the service's Repo (to inject faults); log
	// is the service's logger. nil: the store itself, and no log.
	repo func(githubapp.Repo) githubapp.Repo
	log  *slog.Logger
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{t: t, gh: o.gh}
	if r.gh == nil {
		r.gh = forgetest.NewAppServer(t)
		r.gh.AddInstallation(instID, "acme")
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	var err error
	if r.st, err = sqlite.Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	r.accounts, err = account.New(r.st, account.Config{Secret: []byte("0123456789abcdef0123456789abcdef-test"),
		Hasher: account.Argon2id{Memory: 1024, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := r.accounts.SignUp(ctx, "alice@example.com", "alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	r.tenant = u.TenantID // alice's own tenant owns the installations
	if r.logs, err = logstore.Open(filepath.Join(dir, "logs")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.logs.Close() })
	ex, err := local.New(local.Options{RunbookBinary: runbookBin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	key := o.key
	if key == nil {
		key = r.gh.KeyPEM()
	}
	app, err := github.NewApp(github.AppConfig{AppID: r.gh.AppID, PrivateKeyPEM: key, WebhookSecret: secret,
		BaseURL: r.gh.URL + "/", APIURL: r.gh.APIURL})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus := eventbus.New()
	sched, err := scheduler.New(scheduler.Config{Store: r.st, Executor: ex, Logs: r.logs, Bus: bus, DataDir: dir, Logger: quiet,
		StepEnv: func(ctx context.Context, runID int64) (map[string]string, error) { return r.svc.StepEnv(ctx, runID) }})
	if err != nil {
		t.Fatal(err)
	}
	var repo githubapp.Repo = r.st
	if o.repo != nil {
		repo = o.repo(repo)
	}
	svcLog := quiet
	if o.log != nil {
		svcLog = o.log
	}
	r.newService = func() *githubapp.Service {
		svc, err := githubapp.New(githubapp.Config{App: app, Repo: repo, Runs: r.st, Submitter: sched, Bus: bus,
			PublicURL: "https://runbook.example", DefaultTenant: r.tenant, Logger: svcLog, Poll: o.poll, WaitUpdate: o.waitUpdate})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	r.svc = r.newService()
	if err := sched.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithCancel(ctx)
		cancel()
		sched.Shutdown(c, 0)
	})
	if err := r.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.svc.Close)
	r.srv = httptest.NewServer(server.New(server.Config{Runs: r.st, Accounts: r.accounts, GitHub: r.svc, Logger: quiet}))
	t.Cleanup(r.srv.Close)
	return r
}

// deliver posts a webhook signed with sig (the right signature when "")
// and returns the status and the delivery id.
func (r *rig) deliver(event string, payload any, id, sig string) (int, string) {
	r.t.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		r.t.Fatal(err)
	}
	if id == "" {
		r.n++
		id = fmt.Sprintf("delivery-%d-%s", r.n, rand.Text()[:8])
	}
	if sig == "" {
		sig = sign(body)
	}
	req, _ := http.NewRequest("POST", r.srv.URL+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", sig)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, id
}

func (r *rig) mustDeliver(event string, payload any) string {
	r.t.Helper()
	code, id := r.deliver(event, payload, "", "")
	if code != http.StatusAccepted {
		r.t.Fatalf("%s delivery: %d, want 202", event, code)
	}
	return id
}

func (r *rig) install() {
	r.t.Helper()
	r.mustDeliver("installation", map[string]any{"action": "created",
		"installation": map[string]any{"id": instID, "account": map[string]any{"login": "acme"}}})
}

func (r *rig) project(name string) githubapp.Project {
	r.t.Helper()
	var got githubapp.Project
	r.eventually("project "+name+" listed", func() bool {
		ps, err := r.svc.Projects(context.Background(), r.tenant)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, p := range ps {
			if p.FullName == "acme/"+name {
				got = p
				return true
			}
		}
		return false
	})
	return got
}

func pushPayload(p githubapp.Project, sha string) map[string]any {
	return map[string]any{"ref": "refs/heads/main", "before": "1111111111111111111111111111111111111111", "after": sha,
		"repository": map[string]any{"id": p.RepoID, "name": p.FullName[len("acme/"):], "full_name": p.FullName,
			"owner": map[string]any{"login": "acme"}, "clone_url": p.CloneURL, "default_branch": "main"},
		"installation": map[string]any{"id": p.InstallationID}}
}

// eventually polls cond until it holds; the limit is a failure.
func (r *rig) eventually(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) runs() []store.Run {
	r.t.Helper()
	page, err := r.st.ListRuns(context.Background(), r.tenant, store.RunFilter{}, store.Page{})
	if err != nil {
		r.t.Fatal(err)
	}
	return page.Runs
}

// checksOn returns the fake's check runs on sha.
func (r *rig) checksOn(sha string) []forgetest.CheckRun {
	var out []forgetest.CheckRun
	for _, c := range r.gh.CheckRuns() {
		if c.HeadSHA == sha {
			out = append(out, c)
		}
	}
	return out
}

// otherKey is a PEM RSA key of no app.
func otherKey(t *testing.T) []byte {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func errSuspended() error { return github.ErrSuspended }

func sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// token signs up (when new) and logs in a user, returning an access token.
func (r *rig) token(name string) string {
	r.t.Helper()
	ctx := context.Background()
	if name != "alice" {
		if _, err := r.accounts.SignUp(ctx, name+"@example.com", name, "correct horse battery"); err != nil {
			r.t.Fatal(err)
		}
	}
	tk, err := r.accounts.Login(ctx, name, "correct horse battery", "127.0.0.1")
	if err != nil {
		r.t.Fatal(err)
	}
	return tk.AccessToken
}

// api calls the JSON API and decodes the answer into out (when not nil).
func (r *rig) api(method, path, token, body string, out any) int {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			r.t.Fatalf("%s %s: %d, body does not decode: %v", method, path, res.StatusCode, err)
		}
	}
	return res.StatusCode
}

package forgetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AppServer is a fake GitHub for a GitHub App: the REST API under
// /api/v3/ (like GitHub Enterprise Server) and git over smart HTTP at
// /{owner}/{repo}.git. It is as strict as GitHub where our code depends
// on it: every app JWT's RS256 signature is verified with the app's public
// key and its iat, exp and iss claims are checked against the server's
// clock; installation tokens expire after an hour and reach only their
// installation's repositories (and the repositories and permissions they
// were narrowed to). Its methods are safe for concurrent use.
type AppServer struct {
	URL      string // root, where git repositories live
	APIURL   string // URL + "/api/v3/"
	AppID    int64
	ClientID string
	Key      *rsa.PrivateKey

	t      testing.TB
	gitDir string // GIT_PROJECT_ROOT

	mu         sync.Mutex
	offset     time.Duration
	denyChecks bool
	nextID     int64
	insts      map[int64]*installation
	repos      map[string]*repoMeta // by "owner/name"
	tokens     map[string]*issuedToken
	jwts       map[string]bool
	calls      map[string]int
	checkRuns  []*CheckRun
	statuses   []CommitStatus
}

type installation struct {
	id        int64
	owner     string
	suspended bool
	repos     []string // full names, in the order added
}

type repoMeta struct {
	id           int64
	inst         int64
	owner, name  string
	git          *GitRepo // nil: listed only
	defaultBranc string
}

type issuedToken struct {
	inst    int64
	expires time.Time
	repos   []string          // names; empty: every repository of the installation
	perms   map[string]string // empty: every permission of the app
}

// CheckRun is a check run as the fake recorded it.
type CheckRun struct {
	ID            int64
	Owner, Repo   string
	Name, HeadSHA string
	DetailsURL    string
	Status        string
	Conclusion    string
	Title         string
	Summary       string
	History       []string // every status it went through, in order
}

// CommitStatus is a commit status as the fake recorded it.
type CommitStatus struct {
	Owner, Repo, SHA string
	State            string
	TargetURL        string
	Description      string
	Context          string
}

// TokenTTL is how long GitHub's installation tokens live.
const TokenTTL = time.Hour

// NewAppServer starts a fake GitHub for app 4242 (client ID
// "Iv23liRunbookTest") with a fresh 2048-bit RSA key.
func NewAppServer(t testing.TB) *AppServer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &AppServer{AppID: 4242, ClientID: "Iv23liRunbookTest", Key: key, t: t, gitDir: t.TempDir(),
		nextID: 1000, insts: map[int64]*installation{}, repos: map[string]*repoMeta{},
		tokens: map[string]*issuedToken{}, jwts: map[string]bool{}, calls: map[string]int{}}
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	s.URL, s.APIURL = srv.URL, srv.URL+"/api/v3/"
	return s
}

// KeyPEM is the app's private key as GitHub hands it out (PKCS #1).
func (s *AppServer) KeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.Key)})
}

// SetClockOffset moves the server's clock (and its Date header) by d
// from this machine's, to test clock skew and token expiry.
func (s *AppServer) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset = d
}

func (s *AppServer) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Add(s.offset)
}

// AddInstallation installs the app on an account.
func (s *AppServer) AddInstallation(id int64, owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insts[id] = &installation{id: id, owner: owner}
}

// Suspend suspends or unsuspends an installation.
func (s *AppServer) Suspend(id int64, suspended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insts[id].suspended = suspended
}

// Uninstall removes an installation; its tokens stop working.
func (s *AppServer) Uninstall(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.insts, id)
}

// AddRepos adds repositories without content to an installation, for
// listings.
func (s *AppServer) AddRepos(inst int64, names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.addRepoLocked(inst, n)
	}
}

func (s *AppServer) addRepoLocked(inst int64, name string) *repoMeta {
	in := s.insts[inst]
	s.nextID++
	m := &repoMeta{id: s.nextID, inst: inst, owner: in.owner, name: name, defaultBranc: "main"}
	s.repos[in.owner+"/"+name] = m
	in.repos = append(in.repos, in.owner+"/"+name)
	return m
}

// DenyChecks makes the checks API answer 403, as for an app without the
// Checks permission.
func (s *AppServer) DenyChecks(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyChecks = deny
}

// Calls counts the requests that matched a route, e.g.
// "POST /api/v3/app/installations/{id}/access_tokens".
func (s *AppServer) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// JWTs is how many distinct valid app JWTs the server has seen.
func (s *AppServer) JWTs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jwts)
}

// CheckRuns returns copies of the check runs created so far.
func (s *AppServer) CheckRuns() []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CheckRun, len(s.checkRuns))
	for i, c := range s.checkRuns {
		out[i] = *c
		out[i].History = append([]string(nil), c.History...)
	}
	return out
}

// Statuses returns the commit statuses posted so far.
func (s *AppServer) Statuses() []CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CommitStatus(nil), s.statuses...)
}

// Tokens returns every installation token issued, to check that none
// leaks into logs or errors.
func (s *AppServer) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

// IssueToken issues a token for an installation directly, as if
// requested with no narrowing.
func (s *AppServer) IssueToken(inst int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := newToken()
	s.tokens[tok] = &issuedToken{inst: inst, expires: time.Now().Add(s.offset + TokenTTL)}
	return tok
}

// newToken is an opaque token the size of GitHub's newer format (about
// 520 characters), so that clients cannot assume the old 40.
func newToken() string {
	var b strings.Builder
	b.WriteString("ghs_")
	for b.Len() < 520 {
		b.WriteString(rand.Text())
	}
	return b.String()[:520]
}

func (s *AppServer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v3/app/installations/{id}/access_tokens", s.accessTokens)
	mux.HandleFunc("GET /api/v3/installation/repositories", s.installationRepos)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/contents/{path...}", s.contents)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/branches/{branch}", s.branch)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/check-runs", s.createCheckRun)
	mux.HandleFunc("PATCH /api/v3/repos/{owner}/{repo}/check-runs/{id}", s.updateCheckRun)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/statuses/{sha}", s.createStatus)
	mux.HandleFunc("/api/v3/", func(w http.ResponseWriter, r *http.Request) {
		ghError(w, http.StatusNotFound, "Not Found")
	})
	mux.Handle("/{owner}/{repo}/{rest...}", s.gitHandler())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
		_, pattern := mux.Handler(r)
		s.mu.Lock()
		s.calls[pattern]++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func ghError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

// Messages GitHub answers a bad app JWT with.
const (
	msgJWTUndecodable = "A JSON web token could not be decoded"
	msgIatInvalid     = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	msgExpPast        = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	msgExpTooFar      = "'Expiration time' claim ('exp') is too far in the future"
)

// appJWT verifies the request's app JWT, or answers 401 as GitHub does.
func (s *AppServer) appJWT(w http.ResponseWriter, r *http.Request) bool {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		ghError(w, http.StatusUnauthorized, msgJWTUndecodable)
		return false
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &s.Key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithJSONNumber(), jwt.WithoutClaimsValidation())
	iss, _ := claims["iss"].(string)
	if err != nil || (iss != strconv.FormatInt(s.AppID, 10) && iss != s.ClientID) {
		ghError(w, http.StatusUnauthorized, msgJWTUndecodable)
		return false
	}
	now := s.now().Unix()
	iat, errI := wholeSeconds(claims["iat"])
	exp, errE := wholeSeconds(claims["exp"])
	switch {
	case errI != nil || iat > now:
		ghError(w, http.StatusUnauthorized, msgIatInvalid)
		return false
	case errE != nil || exp <= now:
		ghError(w, http.StatusUnauthorized, msgExpPast)
		return false
	case exp > now+600:
		ghError(w, http.StatusUnauthorized, msgExpTooFar)
		return false
	}
	s.mu.Lock()
	s.jwts[raw] = true
	s.mu.Unlock()
	return true
}

// wholeSeconds accepts only a JSON integer, as GitHub does.
func wholeSeconds(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, strconv.ErrSyntax
	}
	return n.Int64()
}

func (s *AppServer) accessTokens(w http.ResponseWriter, r *http.Request) {
	if !s.appJWT(w, r) {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var body struct {
		Repositories []string          `json:"repositories"`
		Permissions  map[string]string `json:"permissions"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			ghError(w, http.StatusBadRequest, "Problems parsing JSON")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.insts[id]
	switch {
	case in == nil:
		ghError(w, http.StatusNotFound, "Not Found")
		return
	case in.suspended:
		ghError(w, http.StatusForbidden, "This installation has been suspended")
		return
	}
	for _, name := range body.Repositories {
		if m := s.repos[in.owner+"/"+name]; m == nil || m.inst != id {
			ghError(w, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
			return
		}
	}
	tok := newToken()
	it := &issuedToken{inst: id, expires: time.Now().Add(s.offset + TokenTTL).Truncate(time.Second),
		repos: body.Repositories, perms: body.Permissions}
	s.tokens[tok] = it
	perms := body.Permissions
	if len(perms) == 0 {
		perms = map[string]string{"contents": "read", "metadata": "read", "checks": "write", "statuses": "write"}
	}
	sel := "all"
	if len(body.Repositories) > 0 {
		sel = "selected"
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": it.expires.UTC().Format(time.RFC3339),
		"permissions": perms, "repository_selection": sel})
}

// installToken returns the valid installation token of the request, from
// "Authorization: token X" or "Bearer X", or answers 401.
func (s *AppServer) installToken(w http.ResponseWriter, r *http.Request) (*issuedToken, bool) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		raw, ok = strings.CutPrefix(h, "token ")
	}
	it, valid := s.validToken(raw)
	if !ok || !valid {
		ghError(w, http.StatusUnauthorized, "Bad credentials")
		return nil, false
	}
	return it, true
}

func (s *AppServer) validToken(raw string) (*issuedToken, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.tokens[raw]
	if raw == "" || it == nil || !now.Before(it.expires) {
		return nil, false
	}
	if in := s.insts[it.inst]; in == nil || in.suspended {
		return nil, false
	}
	return it, true
}

// repoFor is the repository owner/name if tok may reach it with perm
// ("contents", "checks", "statuses") at level ("read" or "write").
// GitHub answers 404 for a repository a token cannot see, and 403 for
// a permission it lacks.
func (s *AppServer) repoFor(w http.ResponseWriter, it *issuedToken, owner, name, perm, level string) (*repoMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.repos[owner+"/"+name]
	if m == nil || m.inst != it.inst || (len(it.repos) > 0 && !contains(it.repos, name)) {
		ghError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	if len(it.perms) > 0 {
		got := it.perms[perm]
		if got == "" || (level == "write" && got != "write") {
			ghError(w, http.StatusForbidden, "Resource not accessible by integration")
			return nil, false
		}
	}
	return m, true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *AppServer) repoJSON(m *repoMeta) map[string]any {
	return map[string]any{"id": m.id, "name": m.name, "full_name": m.owner + "/" + m.name,
		"owner": map[string]any{"login": m.owner}, "private": true, "default_branch": m.defaultBranc,
		"clone_url": s.URL + "/" + m.owner + "/" + m.name + ".git"}
}

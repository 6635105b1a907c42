// Package forgetest runs local HTTP servers that behave like GitHub's and
// GitLab's OAuth and user endpoints, so that the real client libraries can
// be tested against them through configurable base URLs.
//
// The servers are strict where the real ones are and where our safety
// depends on it: client credentials and redirect_uri are checked, a code is
// single-use (a reused code also revokes the token it produced, as RFC 6749
// §4.1.2 advises), and the PKCE S256 code_verifier is verified against the
// challenge sent to authorize. They require PKCE on every login, which the
// real providers leave optional, so that a client that forgets it fails.
package forgetest

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Flavor selects which provider a Server imitates.
type Flavor int

const (
	GitHub Flavor = iota + 1
	GitLab
)

// User is an account on the fake provider.
type User struct {
	ID        int64
	Login     string
	Name      string
	AvatarURL string
	Emails    []Email // GitLab shows the primary one, confirmed_at set when Verified
}

// Email is one of a user's addresses.
type Email struct {
	Address  string
	Primary  bool
	Verified bool
}

// Options configures a Server. Zero values get defaults.
type Options struct {
	ClientID     string // default "runbook-client-id"
	ClientSecret string // default "runbook-client-secret"
	RedirectURL  string // the registered callback; default "http://runbook.test/login/callback"
	// Prefix is where the provider lives on the server: "" for the root, or
	// e.g. "/gitlab" for a self-managed GitLab under a relative URL.
	Prefix string
	// APIPrefix is where GitHub's REST API lives: "/api/v3/" like GitHub
	// Enterprise (the default), or "/" like api.github.com. GitLab's is
	// always Prefix+"/api/v4/".
	APIPrefix string
	CodeTTL   time.Duration // default 10 minutes, like GitHub
	// EmailsForbidden makes GitHub's /user/emails answer 403, as it does for
	// a token without user:email or a GitHub App without email permission.
	EmailsForbidden bool
}

type grant struct {
	userID      int64
	redirectURI string
	challenge   string
	expires     time.Time
	used        bool
	token       string // issued from this code, revoked on reuse
}

// Server is a fake provider. Its methods are safe for concurrent use.
type Server struct {
	URL    string // the server's root, e.g. http://127.0.0.1:1234
	Flavor Flavor
	Opts   Options

	mu       sync.Mutex
	users    map[int64]User
	loggedIn int64             // the user who approves authorize requests
	grants   map[string]*grant // by code
	tokens   map[string]int64  // access token → user id
	calls    map[string]int    // requests per path, for assertions
}

// NewGitHub starts a GitHub-like server, stopped when t ends.
func NewGitHub(t testing.TB, o Options) *Server { return start(t, GitHub, o) }

// NewGitLab starts a GitLab-like server, stopped when t ends.
func NewGitLab(t testing.TB, o Options) *Server { return start(t, GitLab, o) }

func start(t testing.TB, f Flavor, o Options) *Server {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = "runbook-client-id"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "runbook-client-secret"
	}
	if o.RedirectURL == "" {
		o.RedirectURL = "http://runbook.test/login/callback"
	}
	if o.APIPrefix == "" {
		o.APIPrefix = "/api/v3/"
	}
	if o.CodeTTL == 0 {
		o.CodeTTL = 10 * time.Minute
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/")
	s := &Server{Flavor: f, Opts: o, users: map[int64]User{}, grants: map[string]*grant{},
		tokens: map[string]int64{}, calls: map[string]int{}}
	hs := httptest.NewServer(s.routes())
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// WebURL is the base URL to configure as the provider's web (and, for
// GitLab, API) base: the root plus Prefix.
func (s *Server) WebURL() string { return s.URL + s.Opts.Prefix }

// APIURL is GitHub's REST API base URL on this server.
func (s *Server) APIURL() string { return s.URL + s.Opts.APIPrefix }

// PutUser adds or replaces (by ID) a user.
func (s *Server) PutUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// LogIn makes the user with id the one signed in on the provider: the next
// authorize requests are approved on their behalf.
func (s *Server) LogIn(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loggedIn = id
}

// Calls returns how many requests reached the path (e.g. "/login/oauth/access_token").
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// TokenValid says whether an access token is currently accepted.
func (s *Server) TokenValid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tokens[tok]
	return ok
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	p := s.Opts.Prefix
	switch s.Flavor {
	case GitHub:
		mux.HandleFunc("GET "+p+"/login/oauth/authorize", s.authorize)
		mux.HandleFunc("POST "+p+"/login/oauth/access_token", s.token)
		mux.HandleFunc("GET "+s.Opts.APIPrefix+"user", s.githubUser)
		mux.HandleFunc("GET "+s.Opts.APIPrefix+"user/emails", s.githubEmails)
	case GitLab:
		mux.HandleFunc("GET "+p+"/oauth/authorize", s.authorize)
		mux.HandleFunc("POST "+p+"/oauth/token", s.token)
		mux.HandleFunc("GET "+p+"/api/v4/user", s.gitlabUser)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[r.URL.Path]++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func randomString(prefix string) string { return prefix + strings.ToLower(rand.Text()) }

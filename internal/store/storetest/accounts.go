package storetest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runbookhq/runbook/internal/account"
)

// AccountStorage makes fresh, empty storage for one test and returns the
// account.Repo on it.
type AccountStorage func(tb testing.TB) account.Repo

// RunAccounts runs the account service's behavioural tests on a driver.
// Every test also checks, when it ends, that no password, token or hash it
// saw appears in a log line or an error message.
func RunAccounts(t *testing.T, storage AccountStorage) {
	tests := []struct {
		name string
		fn   func(*testing.T, *accEnv)
	}{
		{"SignUpValidation", testSignUpValidation},
		{"Login", testLogin},
		{"LoginFailuresLookAlike", testLoginFailuresLookAlike},
		{"RateLimitByAccount", testRateLimitByAccount},
		{"RateLimitByIP", testRateLimitByIP},
		{"AccessTokenRejections", testAccessTokenRejections},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshReuseRevokesFamily", testRefreshReuse},
		{"ConcurrentRefresh", testConcurrentRefresh},
		{"RefreshExpiry", testRefreshExpiry},
		{"Logout", testLogout},
		{"PersonalAccessTokens", testPATs},
		{"Memberships", testMemberships},
		{"IdentityNewUser", testIdentityNewUser},
		{"IdentityLinksOnlyVerifiedEmail", testIdentityLink},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newAccEnv(t, storage(t), account.Config{}))
		})
	}
}

// testSecret signs the suite's access tokens.
var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// accEnv is a Service on fresh storage, with a settable clock, a counting
// hasher, and a log and error record scanned for secrets at the end.
type accEnv struct {
	t       *testing.T
	repo    account.Repo
	svc     *account.Service
	clock   *Clock
	hasher  *countingHasher
	logs    *lockedBuffer
	mu      sync.Mutex
	secrets []string
	errs    []string
}

func newAccEnv(t *testing.T, repo account.Repo, cfg account.Config) *accEnv {
	e := &accEnv{t: t, repo: repo, clock: NewClock(), logs: &lockedBuffer{}}
	// Cheap parameters keep the suite fast; they are the real argon2id.
	e.hasher = &countingHasher{Hasher: account.Argon2id{Memory: 256, Time: 1, Threads: 1}}
	cfg.Secret, cfg.Now, cfg.Hasher = testSecret, e.clock.Now, e.hasher
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := account.New(repo, cfg)
	if err != nil {
		t.Fatalf("account.New: %v", err)
	}
	e.svc = svc
	t.Cleanup(e.checkNoSecretsLeaked)
	return e
}

// secret records values that must never be logged or put in an error.
func (e *accEnv) secret(s ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s...)
}

// err records an error's text for the leak check and returns err.
func (e *accEnv) err(err error) error {
	if err != nil {
		e.mu.Lock()
		e.errs = append(e.errs, err.Error())
		e.mu.Unlock()
	}
	return err
}

func (e *accEnv) checkNoSecretsLeaked() {
	logs := e.logs.String()
	for _, s := range e.secrets {
		if len(s) < 8 {
			e.t.Fatalf("test bug: secret %q is too short to scan for", s)
		}
		if strings.Contains(logs, s) {
			e.t.Errorf("a secret appears in the log output:\n%s", logs)
		}
		for _, msg := range e.errs {
			if strings.Contains(msg, s) {
				e.t.Errorf("a secret appears in the error %q", msg)
			}
		}
	}
}

// signUp creates a user and records its password and stored hash as secrets.
func (e *accEnv) signUp(email, username, password string) account.User {
	e.t.Helper()
	e.secret(password)
	u, err := e.svc.SignUp(context.Background(), email, username, password)
	if e.err(err) != nil {
		e.t.Fatalf("SignUp(%q, %q): %v", email, username, err)
	}
	_, hash, err := e.repo.UserByLogin(context.Background(), u.Username)
	if err != nil || !strings.HasPrefix(hash, "$argon2id$") {
		e.t.Fatalf("stored hash of %s = %q, %v; want an argon2id string", u.Username, hash, err)
	}
	e.secret(hash, hash[strings.LastIndexByte(hash, '$')+1:])
	return u
}

func (e *accEnv) login(who, password string) account.Tokens {
	e.t.Helper()
	tok, err := e.svc.Login(context.Background(), who, password, "192.0.2.1")
	if e.err(err) != nil {
		e.t.Fatalf("Login(%q): %v", who, err)
	}
	e.tokens(tok)
	return tok
}

func (e *accEnv) tokens(t account.Tokens) {
	e.t.Helper()
	if t.AccessToken == "" || t.RefreshToken == "" {
		e.t.Fatalf("tokens missing: access %d bytes, refresh %d bytes", len(t.AccessToken), len(t.RefreshToken))
	}
	e.secret(t.AccessToken, t.RefreshToken)
}

func (e *accEnv) authenticate(token string) account.Principal {
	e.t.Helper()
	p, err := e.svc.Authenticate(context.Background(), token)
	if e.err(err) != nil {
		e.t.Fatalf("Authenticate: %v", err)
	}
	return p
}

// wantErr fails unless err wraps target.
func (e *accEnv) wantErr(what string, err, target error) {
	e.t.Helper()
	e.err(err)
	if !errors.Is(err, target) {
		e.t.Fatalf("%s: got error %v, want one wrapping %q", what, err, target)
	}
}

// countingHasher is the real hasher, counting verifications so a test can
// see that an unknown user still costs one.
type countingHasher struct {
	account.Hasher
	verifies atomic.Int64
}

func (h *countingHasher) Verify(password, encoded string) (bool, error) {
	h.verifies.Add(1)
	return h.Hasher.Verify(password, encoded)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package forgetest

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/runbookhq/runbook/internal/forge"
)

// Suite is the login behaviour every forge.LoginProvider must show against
// its fake server. A provider package runs it with its own constructor, as
// river's driver tests do; a new provider adds a Flavor here and runs it.
type Suite struct {
	Flavor  Flavor
	Options Options // for the fake server (prefixes)
	// New builds the provider under test for srv, with the given secret
	// (the suite passes a wrong one to test client rejection).
	New func(t testing.TB, srv *Server, clientSecret string) forge.LoginProvider
}

// Alice is the suite's user: a verified primary email and an unverified
// secondary one.
var Alice = User{ID: 4242, Login: "alice", Name: "Alice Liddell", AvatarURL: "https://avatars.test/4242",
	Emails: []Email{{Address: "alice@example.com", Primary: true, Verified: true}, {Address: "alice@other.test"}}}

// Run runs the suite.
func (s Suite) Run(t *testing.T) {
	t.Run("FullFlow", s.fullFlow)
	t.Run("StateMismatch", s.stateMismatch)
	t.Run("Expired", s.expired)
	t.Run("WrongVerifier", s.wrongVerifier)
	t.Run("MissingVerifier", s.missingVerifier)
	t.Run("CodeReuse", s.codeReuse)
	t.Run("WrongClientSecret", s.wrongSecret)
	t.Run("UnverifiedEmailNeverLinks", s.unverifiedEmail)
	t.Run("KeyIsNumericID", s.numericID)
	t.Run("AccessDenied", s.denied)
	t.Run("TokenRejected", s.tokenRejected)
}

func (s Suite) setup(t *testing.T) (*Server, *forge.Flow) {
	srv := start(t, s.Flavor, s.Options)
	srv.PutUser(Alice)
	srv.LogIn(Alice.ID)
	return srv, forge.NewFlow(s.New(t, srv, srv.Opts.ClientSecret))
}

// login runs Begin and the provider's authorize, returning the callback's
// state and code.
func login(t *testing.T, f *forge.Flow) (forge.State, string, string) {
	t.Helper()
	authURL, st := f.Begin()
	cb := Authorize(t, authURL)
	state, code, err := forge.ParseCallback(f.Provider.Name(), cb.Query())
	if err != nil {
		t.Fatalf("callback %s: %v", cb, err)
	}
	return st, state, code
}

func (s Suite) tokenPath(srv *Server) string {
	if s.Flavor == GitHub {
		return srv.Opts.Prefix + "/login/oauth/access_token"
	}
	return srv.Opts.Prefix + "/oauth/token"
}

// NoSecrets fails t if err's text contains any of the secrets.
func NoSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(err.Error(), sec) {
			t.Errorf("error %q contains a secret %q", err, sec)
		}
	}
}

func (s Suite) fullFlow(t *testing.T) {
	srv, f := s.setup(t)
	authURL, st := f.Begin()
	q := mustQuery(t, authURL)
	if q.Get("state") != st.Value || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(st.Verifier) ||
		q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorize URL %s lacks the state or the S256 challenge of %+v", authURL, st)
	}
	if strings.Contains(authURL, st.Verifier) {
		t.Fatalf("the PKCE verifier leaked into the authorize URL")
	}
	_, st2 := f.Begin()
	if st2.Value == st.Value || st2.Verifier == st.Verifier {
		t.Fatalf("two logins share a state or verifier")
	}
	cb := Authorize(t, authURL)
	state, code, err := forge.ParseCallback(f.Provider.Name(), cb.Query())
	if err != nil {
		t.Fatal(err)
	}
	id, tok, err := f.FinishWithToken(context.Background(), st, state, code)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	want := forge.Identity{Provider: f.Provider.Name(), UserID: Alice.ID, Login: "alice", Name: Alice.Name,
		AvatarURL: Alice.AvatarURL, Email: "alice@example.com", EmailVerified: true}
	if id != want {
		t.Fatalf("identity = %+v, want %+v", id, want)
	}
	if !srv.TokenValid(tok.AccessToken) {
		t.Fatalf("the token returned is not one the provider issued")
	}
}

func (s Suite) stateMismatch(t *testing.T) {
	srv, f := s.setup(t)
	st, _, code := login(t, f)
	other, _, _ := login(t, f) // a second tab: its state must not redeem the first code
	for _, got := range []string{"", other.Value, st.Value + "x", strings.ToLower(st.Value)} {
		_, err := f.Finish(context.Background(), st, got, code)
		if !errors.Is(err, forge.ErrStateMismatch) {
			t.Fatalf("state %q: err = %v, want ErrStateMismatch", got, err)
		}
		NoSecrets(t, err, code, st.Verifier, st.Value, srv.Opts.ClientSecret)
	}
	if _, err := f.Finish(context.Background(), forge.State{}, st.Value, code); !errors.Is(err, forge.ErrNoLogin) {
		t.Fatalf("no stored state: err = %v, want ErrNoLogin", err)
	}
	if n := srv.Calls(s.tokenPath(srv)); n != 0 {
		t.Fatalf("the token endpoint was called %d times before the state was checked", n)
	}
}

func (s Suite) expired(t *testing.T) {
	srv, f := s.setup(t)
	st, state, code := login(t, f)
	f.Now = func() time.Time { return st.Expires }
	if _, err := f.Finish(context.Background(), st, state, code); !errors.Is(err, forge.ErrLoginExpired) {
		t.Fatalf("err = %v, want ErrLoginExpired", err)
	}
	if n := srv.Calls(s.tokenPath(srv)); n != 0 {
		t.Fatalf("the token endpoint was called for an expired login")
	}
}

func (s Suite) wrongVerifier(t *testing.T) {
	srv, f := s.setup(t)
	st, state, code := login(t, f)
	forged := st
	forged.Verifier = oauth2.GenerateVerifier()
	_, err := f.Finish(context.Background(), forged, state, code)
	if !errors.Is(err, forge.ErrCodeRejected) || !strings.Contains(err.Error(), "code_verifier does not match") {
		t.Fatalf("err = %v, want ErrCodeRejected naming the verifier", err)
	}
	NoSecrets(t, err, code, forged.Verifier, st.Verifier, srv.Opts.ClientSecret)
	t.Logf("shown to the user: %v", err)
	// The code was burnt by the failed try: the right verifier is too late.
	if _, err := f.Finish(context.Background(), st, state, code); !errors.Is(err, forge.ErrCodeRejected) {
		t.Fatalf("code accepted after a failed try: err = %v", err)
	}
}

func (s Suite) missingVerifier(t *testing.T) {
	srv, f := s.setup(t)
	_, _, code := login(t, f)
	_, err := f.Provider.Exchange(context.Background(), code, "")
	if !errors.Is(err, forge.ErrCodeRejected) || !strings.Contains(err.Error(), "code_verifier is required") {
		t.Fatalf("err = %v, want ErrCodeRejected saying the verifier is required", err)
	}
	NoSecrets(t, err, code, srv.Opts.ClientSecret)
}

func (s Suite) codeReuse(t *testing.T) {
	srv, f := s.setup(t)
	st, state, code := login(t, f)
	_, tok, err := f.FinishWithToken(context.Background(), st, state, code)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Finish(context.Background(), st, state, code)
	if !errors.Is(err, forge.ErrCodeRejected) {
		t.Fatalf("reused code: err = %v, want ErrCodeRejected", err)
	}
	NoSecrets(t, err, code, st.Verifier, tok.AccessToken, srv.Opts.ClientSecret)
	t.Logf("shown to the user: %v", err)
	if srv.TokenValid(tok.AccessToken) {
		t.Fatalf("the token issued from a replayed code is still valid")
	}
}

func (s Suite) wrongSecret(t *testing.T) {
	srv, _ := s.setup(t)
	const bad = "not-the-secret-0123456789"
	f := forge.NewFlow(s.New(t, srv, bad))
	st, state, code := login(t, f)
	_, err := f.Finish(context.Background(), st, state, code)
	if !errors.Is(err, forge.ErrClientRejected) {
		t.Fatalf("err = %v, want ErrClientRejected", err)
	}
	NoSecrets(t, err, bad, srv.Opts.ClientSecret, code, st.Verifier)
	t.Logf("shown to the user: %v", err)
}

func (s Suite) unverifiedEmail(t *testing.T) {
	srv, f := s.setup(t)
	mallory := User{ID: 666, Login: "mallory", Emails: []Email{{Address: "alice@example.com", Primary: true}}}
	srv.PutUser(mallory)
	srv.LogIn(mallory.ID)
	st, state, code := login(t, f)
	id, err := f.Finish(context.Background(), st, state, code)
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "alice@example.com" || id.EmailVerified {
		t.Fatalf("identity = %+v, want alice's address unverified", id)
	}
	alice := forge.Account{ID: 1, Email: "Alice@Example.com", EmailVerified: true}
	d, err := forge.DecideLink(id, 0, []forge.Account{alice})
	if err != nil || d.Action != forge.CreateAccount || d.AccountID != 0 || d.Email != "" {
		t.Fatalf("unverified email: decision %+v, %v; want a new account without the email", d, err)
	}
}

func (s Suite) numericID(t *testing.T) {
	srv, f := s.setup(t)
	first := finish(t, f)
	renamed := Alice
	renamed.Login, renamed.Name = "alice-renamed", "Alice L."
	renamed.Emails = []Email{{Address: "new@example.com", Primary: true, Verified: true}}
	srv.PutUser(renamed)
	second := finish(t, f)
	if second.UserID != first.UserID || second.Login != "alice-renamed" {
		t.Fatalf("after a rename: %+v, before: %+v; want the same UserID", second, first)
	}
	d, err := forge.DecideLink(second, 77, nil)
	if err != nil || d != (forge.LinkDecision{Action: forge.LoginLinked, AccountID: 77}) {
		t.Fatalf("linked identity: decision %+v, %v", d, err)
	}
}

func finish(t *testing.T, f *forge.Flow) forge.Identity {
	t.Helper()
	st, state, code := login(t, f)
	id, err := f.Finish(context.Background(), st, state, code)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (s Suite) denied(t *testing.T) {
	srv, f := s.setup(t)
	srv.LogIn(0) // nobody approves
	authURL, _ := f.Begin()
	cb := Authorize(t, authURL)
	if _, _, err := forge.ParseCallback(f.Provider.Name(), cb.Query()); !errors.Is(err, forge.ErrAccessDenied) {
		t.Fatalf("callback %s: err = %v, want ErrAccessDenied", cb, err)
	}
}

func (s Suite) tokenRejected(t *testing.T) {
	_, f := s.setup(t)
	const tok = "tok_forged_0123456789"
	_, err := f.Provider.UserInfo(context.Background(), &oauth2.Token{AccessToken: tok})
	if !errors.Is(err, forge.ErrTokenRejected) {
		t.Fatalf("err = %v, want ErrTokenRejected", err)
	}
	NoSecrets(t, err, tok)
	t.Logf("shown to the user: %v", err)
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

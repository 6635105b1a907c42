package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/forge"
	"github.com/runbookhq/runbook/internal/store"
)

func testSignUpValidation(t *testing.T, e *accEnv) {
	ctx := context.Background()
	const pw = "correct horse battery"
	bad := []struct{ email, username, password, says string }{
		{"not-an-email", "alice", pw, "email"},
		{"alice@", "alice", pw, "email"},
		{"Alice <alice@example.com>", "alice", pw, "email"},
		{"alice@localhost", "alice", pw, "email"},
		{"alice@example.com", "a", pw, "username"},
		{"alice@example.com", "alice_b", pw, "username"},
		{"alice@example.com", strings.Repeat("a", 40), pw, "username"},
		{"alice@example.com", "alice", "short", "at least 10"},
		{"alice@example.com", "alice", strings.Repeat("x", account.MaxPasswordLen+1), "longer than"},
	}
	for _, b := range bad {
		_, err := e.svc.SignUp(ctx, b.email, b.username, b.password)
		e.wantErr("SignUp("+b.email+", "+b.username+")", err, account.ErrInvalid)
		if !strings.Contains(err.Error(), b.says) {
			t.Errorf("SignUp(%q, %q): error %q should mention %q", b.email, b.username, err, b.says)
		}
	}
	u := e.signUp(" Alice@Example.com ", "Alice", pw)
	if u.Username != "alice" || u.Email != "alice@example.com" || u.EmailVerified || u.TenantID == 0 {
		t.Errorf("SignUp = %+v; want lower-case alice, alice@example.com, unverified, with a tenant", u)
	}
	ms, err := e.svc.Memberships(ctx, u.ID)
	if err != nil || len(ms) != 1 || ms[0].Tenant.ID != u.TenantID || ms[0].Tenant.Name != "alice" ||
		ms[0].Role != account.RoleOwner || !ms[0].Personal {
		t.Errorf("Memberships after sign-up = %+v, %v; want one personal tenant alice, owned", ms, err)
	}

	_, err = e.svc.SignUp(ctx, "other@example.com", "ALICE", pw)
	e.wantErr("a taken username", err, account.ErrUsernameTaken)
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "username is taken") {
		t.Errorf("a taken username: %v; want ErrConflict saying the username is taken", err)
	}
	_, err = e.svc.SignUp(ctx, "ALICE@example.com", "alice2", pw)
	e.wantErr("a taken email", err, account.ErrEmailTaken)

	// Users and organizations share one namespace.
	if _, err := e.svc.CreateOrg(ctx, u.ID, "acme"); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	_, err = e.svc.SignUp(ctx, "acme@example.com", "acme", pw)
	e.wantErr("a username equal to an organization", err, account.ErrUsernameTaken)
	if _, _, err := e.repo.UserByLogin(ctx, "acme@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused sign-up left a user behind: %v", err)
	}
}

func testLogin(t *testing.T, e *accEnv) {
	u := e.signUp("bob@example.com", "bob", "bob's long password")
	for _, who := range []string{"bob", "BOB", "bob@example.com", " Bob@Example.COM "} {
		tok := e.login(who, "bob's long password")
		p := e.authenticate(tok.AccessToken)
		if p.UserID != u.ID || p.Username != "bob" || p.Via != account.ViaAccessToken {
			t.Errorf("login as %q: principal %+v; want user %d bob via access token", who, p, u.ID)
		}
		if want := e.clock.Now().Add(15 * time.Minute); !tok.AccessExpiresAt.Equal(want) {
			t.Errorf("access token expires at %v, want %v", tok.AccessExpiresAt, want)
		}
		if want := e.clock.Now().Add(30 * 24 * time.Hour); !tok.RefreshExpiresAt.Equal(want) {
			t.Errorf("refresh token expires at %v, want %v", tok.RefreshExpiresAt, want)
		}
		if s := tok.String(); strings.Contains(s, tok.AccessToken) || strings.Contains(s, tok.RefreshToken) {
			t.Errorf("Tokens.String() shows the tokens: %s", s)
		}
	}
}

// testLoginFailuresLookAlike: wrong password, unknown account, an account
// without a password and an over-long password give the same error, and
// each costs one hash verification, so neither text nor time tells which.
func testLoginFailuresLookAlike(t *testing.T, e *accEnv) {
	ctx := context.Background()
	e.signUp("carol@example.com", "carol", "carol's long password")
	if _, _, err := e.svc.LoginWithIdentity(ctx, forge.Identity{Provider: "github", UserID: 7, Login: "dave"}); err != nil {
		t.Fatalf("LoginWithIdentity: %v", err)
	}
	cases := []struct{ name, who, password string }{
		{"wrong password", "carol", "not carol's password"},
		{"wrong password by email", "carol@example.com", "not carol's password"},
		{"unknown user", "nobody", "whatever password"},
		{"unknown email", "nobody@example.com", "whatever password"},
		{"account without a password", "dave", "whatever password"},
		{"over-long password", "carol", strings.Repeat("carol's long password", 20)},
	}
	for _, c := range cases {
		e.secret(c.password)
		before := e.hasher.verifies.Load()
		_, err := e.svc.Login(ctx, c.who, c.password, "198.51.100.9")
		e.wantErr(c.name, err, account.ErrBadCredentials)
		if err.Error() != "wrong username/email or password" {
			t.Errorf("%s: error %q; every failure must read exactly %q", c.name, err, "wrong username/email or password")
		}
		if n := e.hasher.verifies.Load() - before; n != 1 {
			t.Errorf("%s: %d hash verifications; want 1 (a dummy hash for a missing account) so timing reveals nothing", c.name, n)
		}
	}
}

func testRateLimitByAccount(t *testing.T, e *accEnv) {
	ctx := context.Background()
	e.signUp("erin@example.com", "erin", "erin's long password")
	e.secret("wrong password")
	for i := range 5 {
		_, err := e.svc.Login(ctx, "erin", "wrong password", "192.0.2.10")
		e.wantErr("failure "+string(rune('1'+i)), err, account.ErrBadCredentials)
	}
	before := e.hasher.verifies.Load()
	_, err := e.svc.Login(ctx, "erin", "erin's long password", "192.0.2.11") // right password, other address
	e.wantErr("the 6th try", err, account.ErrRateLimited)
	var rl *account.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > 3*time.Minute {
		t.Fatalf("rate limit error %v: want a RetryAfter in (0, 3m] (5 tries per 15 minutes)", err)
	}
	if e.hasher.verifies.Load() != before {
		t.Errorf("a rate-limited login still hashed the password; it should cost nothing")
	}
	// An unknown account is limited alike: the limit reveals nothing either.
	for range 5 {
		e.svc.Login(ctx, "ghost", "wrong password", "192.0.2.12")
	}
	_, err = e.svc.Login(ctx, "ghost", "wrong password", "192.0.2.12")
	e.wantErr("an unknown account's 6th try", err, account.ErrRateLimited)

	e.clock.Advance(rl.RetryAfter - time.Second)
	_, err = e.svc.Login(ctx, "erin", "erin's long password", "192.0.2.11")
	e.wantErr("a second before RetryAfter", err, account.ErrRateLimited)
	e.clock.Advance(time.Second)
	e.login("erin", "erin's long password")
	// A success forgets the failures: five more are allowed.
	for range 5 {
		_, err := e.svc.Login(ctx, "erin", "wrong password", "192.0.2.10")
		e.wantErr("a failure after a success", err, account.ErrBadCredentials)
	}
}

func testRateLimitByIP(t *testing.T, e *accEnv) {
	e = newAccEnv(t, e.repo, account.Config{IPLimit: account.Limit{Burst: 3, Per: 15 * time.Minute}})
	ctx := context.Background()
	e.signUp("frank@example.com", "frank", "frank's long password")
	e.secret("wrong password")
	for _, who := range []string{"u1", "u2", "u3"} {
		_, err := e.svc.Login(ctx, who, "wrong password", "2001:db8::1")
		e.wantErr(who, err, account.ErrBadCredentials)
	}
	// Same /64: the same client.
	_, err := e.svc.Login(ctx, "frank", "frank's long password", "[2001:db8::2]:4321")
	e.wantErr("a 4th account from the same /64", err, account.ErrRateLimited)
	e.login("frank", "frank's long password") // another address is unaffected
}

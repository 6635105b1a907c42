package storetest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strconv"
	"testing"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/forge"
	"github.com/runbookhq/runbook/internal/store"
)

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func testMemberships(t *testing.T, e *accEnv) {
	ctx := context.Background()
	owner := e.signUp("pat@example.com", "pat", "pat's long password")
	member := e.signUp("quinn@example.com", "quinn", "quinn's long password")
	outsider := e.signUp("ray@example.com", "ray", "ray's long password")
	org, err := e.svc.CreateOrg(ctx, owner.ID, "Acme")
	if err != nil || org.Tenant.Name != "acme" || org.Role != account.RoleOwner || org.Personal {
		t.Fatalf("CreateOrg = %+v, %v; want acme owned by pat", org, err)
	}
	_, err = e.svc.CreateOrg(ctx, owner.ID, "quinn")
	e.wantErr("an org named like a user", err, account.ErrNameTaken)
	_, err = e.svc.CreateOrg(ctx, owner.ID, "no spaces")
	e.wantErr("a bad org name", err, account.ErrInvalid)

	if err := e.svc.AddMember(ctx, owner.ID, org.Tenant.ID, member.ID, account.RoleMember); err != nil {
		t.Fatalf("AddMember by the owner: %v", err)
	}
	e.wantErr("adding twice", e.svc.AddMember(ctx, owner.ID, org.Tenant.ID, member.ID, account.RoleMember), account.ErrAlreadyMember)
	e.wantErr("a member adding", e.svc.AddMember(ctx, member.ID, org.Tenant.ID, outsider.ID, account.RoleMember), account.ErrForbidden)
	e.wantErr("an outsider adding", e.svc.AddMember(ctx, outsider.ID, org.Tenant.ID, outsider.ID, account.RoleOwner), store.ErrNotFound)
	e.wantErr("a bad role", e.svc.AddMember(ctx, owner.ID, org.Tenant.ID, outsider.ID, "admin"), account.ErrInvalid)
	e.wantErr("adding to a personal tenant", e.svc.AddMember(ctx, owner.ID, owner.TenantID, outsider.ID, account.RoleMember), account.ErrInvalid)
	e.wantErr("adding an unknown user", e.svc.AddMember(ctx, owner.ID, org.Tenant.ID, 999999, account.RoleMember), store.ErrNotFound)

	for _, c := range []struct {
		user, tenant int64
		ok           bool
	}{
		{owner.ID, org.Tenant.ID, true}, {member.ID, org.Tenant.ID, true}, {owner.ID, owner.TenantID, true},
		{outsider.ID, org.Tenant.ID, false}, {member.ID, owner.TenantID, false}, {outsider.ID, 999999, false},
	} {
		err := e.svc.CheckMember(ctx, c.user, c.tenant)
		if c.ok && err != nil {
			t.Errorf("CheckMember(user %d, tenant %d) = %v; want nil", c.user, c.tenant, err)
		}
		if !c.ok {
			e.wantErr("CheckMember of a non-member", err, store.ErrNotFound)
		}
	}
	// A tenant that exists and one that does not look the same to an outsider.
	e1, e2 := e.svc.CheckMember(ctx, outsider.ID, org.Tenant.ID), e.svc.CheckMember(ctx, outsider.ID, org.Tenant.ID+1000)
	if e1.Error() != "tenant "+itoa(org.Tenant.ID)+": not found" || e2.Error() != "tenant "+itoa(org.Tenant.ID+1000)+": not found" {
		t.Errorf("CheckMember errors %q, %q; want the same shape whether the tenant exists or not", e1, e2)
	}

	ms, err := e.svc.Memberships(ctx, member.ID)
	if err != nil || len(ms) != 2 || ms[0].Tenant.ID != member.TenantID || !ms[0].Personal ||
		ms[1].Tenant.ID != org.Tenant.ID || ms[1].Role != account.RoleMember || ms[1].Personal {
		t.Errorf("Memberships(quinn) = %+v, %v; want personal (owner) then acme (member)", ms, err)
	}
}

func testIdentityNewUser(t *testing.T, e *accEnv) {
	ctx := context.Background()
	gh := forge.Identity{Provider: "github", UserID: 583231, Login: "The_Octocat", Email: "octo@example.com"} // unverified
	u, tok, err := e.svc.LoginWithIdentity(ctx, gh)
	if e.err(err) != nil {
		t.Fatalf("LoginWithIdentity: %v", err)
	}
	e.tokens(tok)
	if u.Username != "the-octocat" || u.Email != "" || u.EmailVerified {
		t.Errorf("new user = %+v; want the-octocat without the unverified email", u)
	}
	if p := e.authenticate(tok.AccessToken); p.UserID != u.ID {
		t.Errorf("the identity's access token is user %d, want %d", p.UserID, u.ID)
	}
	if err := e.svc.CheckMember(ctx, u.ID, u.TenantID); err != nil {
		t.Errorf("the new user has no personal tenant: %v", err)
	}
	// Renamed on GitHub: the numeric id still finds the same account.
	renamed := gh
	renamed.Login, renamed.Email, renamed.EmailVerified = "octo-renamed", "new@example.com", true
	again, tok2, err := e.svc.LoginWithIdentity(ctx, renamed)
	if e.err(err) != nil || again.ID != u.ID {
		t.Fatalf("after a rename: user %+v, %v; want user %d", again, err, u.ID)
	}
	e.tokens(tok2)
	// Another provider account with the same login gets a suffixed name.
	gl := forge.Identity{Provider: "gitlab", UserID: 583231, Login: "the-octocat"}
	u2, tok3, err := e.svc.LoginWithIdentity(ctx, gl)
	if e.err(err) != nil {
		t.Fatal(err)
	}
	e.tokens(tok3)
	if u2.ID == u.ID || u2.Username != "the-octocat-2" {
		t.Errorf("same login, other provider: %+v; want a new user the-octocat-2", u2)
	}
	_, _, err = e.svc.LoginWithIdentity(ctx, forge.Identity{Provider: "github"})
	e.wantErr("an identity without a user id", err, account.ErrInvalid)
}

// testIdentityLink: an identity joins an existing account only through an
// email verified on both sides.
func testIdentityLink(t *testing.T, e *accEnv) {
	ctx := context.Background()
	// An account made through GitHub holds GitHub's verified email.
	first, tok, err := e.svc.LoginWithIdentity(ctx, forge.Identity{Provider: "github", UserID: 1, Login: "sam",
		Email: "Sam@Example.com", EmailVerified: true})
	if e.err(err) != nil {
		t.Fatal(err)
	}
	e.tokens(tok)
	if first.Email != "sam@example.com" || !first.EmailVerified {
		t.Fatalf("account from a verified identity = %+v; want its verified email", first)
	}
	// GitLab with the same verified email links to it.
	linked, tok, err := e.svc.LoginWithIdentity(ctx, forge.Identity{Provider: "gitlab", UserID: 9, Login: "samuel",
		Email: "sam@example.com", EmailVerified: true})
	if e.err(err) != nil || linked.ID != first.ID {
		t.Fatalf("verified email on both sides: user %+v, %v; want linked to %d", linked, err, first.ID)
	}
	e.tokens(tok)
	// The same address, unverified at the provider: a new account, without it.
	fresh, tok, err := e.svc.LoginWithIdentity(ctx, forge.Identity{Provider: "gitlab", UserID: 10, Login: "mallory",
		Email: "sam@example.com"})
	if e.err(err) != nil || fresh.ID == first.ID || fresh.Email != "" {
		t.Fatalf("unverified provider email: user %+v, %v; want a new account without the email", fresh, err)
	}
	e.tokens(tok)

	// A password account has not verified its email: no link until it does.
	pw := e.signUp("tess@example.com", "tess", "tess's long password")
	id := forge.Identity{Provider: "github", UserID: 2, Login: "tess-gh", Email: "tess@example.com", EmailVerified: true}
	_, _, err = e.svc.LoginWithIdentity(ctx, id)
	e.wantErr("linking to an unverified account", err, forge.ErrEmailNotVerifiedHere)
	if _, err := e.repo.IdentityUser(ctx, "github", 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused link was stored: %v", err)
	}
	if err := e.svc.MarkEmailVerified(ctx, pw.ID); err != nil {
		t.Fatal(err)
	}
	got, tok, err := e.svc.LoginWithIdentity(ctx, id)
	if e.err(err) != nil || got.ID != pw.ID {
		t.Fatalf("after verifying: user %+v, %v; want %d", got, err, pw.ID)
	}
	e.tokens(tok)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

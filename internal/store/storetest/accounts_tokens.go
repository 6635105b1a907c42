package storetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
)

func testAccessTokenRejections(t *testing.T, e *accEnv) {
	ctx := context.Background()
	u := e.signUp("gina@example.com", "gina", "gina's long password")
	other := e.signUp("hank@example.com", "hank", "hank's long password")
	tok := e.login("gina", "gina's long password")
	now := e.clock.Now()
	claims := func(sub int64) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Issuer: "runbook", Subject: strconv.FormatInt(sub, 10),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), ID: "x"}
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatalf("signing a test token: %v", err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(tok.AccessToken, ".")
	// The payload of another user under gina's signature.
	forgedPayload := parts[0] + "." + b64([]byte(`{"iss":"runbook","sub":"`+strconv.FormatInt(other.ID, 10)+
		`","exp":`+strconv.FormatInt(now.Add(time.Hour).Unix(), 10)+`,"iat":`+strconv.FormatInt(now.Unix(), 10)+`}`)) + "." + parts[2]
	// RS256 in the header, signed with HMAC over the server secret: the
	// algorithm confusion attack.
	rsHeader := b64([]byte(`{"alg":"RS256","typ":"JWT"}`))
	confused := rsHeader + "." + parts[1]
	confused += "." + b64(hmacSHA256(testSecret, confused))

	rejected := map[string]string{
		"forged payload":               forgedPayload,
		"another secret":               sign(jwt.SigningMethodHS256, []byte("another secret, 32 bytes or more!!"), claims(u.ID)),
		"alg none":                     sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(u.ID)),
		"RS256 with a real RSA key":    sign(jwt.SigningMethodRS256, rsaKey, claims(u.ID)),
		"RS256 header, HMAC signature": confused,
		"HS512 with the right secret":  sign(jwt.SigningMethodHS512, testSecret, claims(u.ID)),
		"no expiry":                    sign(jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Issuer: "runbook", Subject: strconv.FormatInt(u.ID, 10)}),
		"another issuer":               sign(jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Issuer: "evil", Subject: "1", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}),
		"a refresh token":              tok.RefreshToken,
		"garbage":                      "not.a.token",
		"empty":                        "",
		"unknown PAT":                  account.PATPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	}
	for name, bad := range rejected {
		if len(bad) >= 8 {
			e.secret(bad)
		}
		_, err := e.svc.Authenticate(ctx, bad)
		e.wantErr(name, err, account.ErrUnauthenticated)
	}
	// The genuine token works, with or without "Bearer ", until it expires.
	if p := e.authenticate("Bearer " + tok.AccessToken); p.UserID != u.ID {
		t.Fatalf("Authenticate(Bearer ...) = user %d, want %d", p.UserID, u.ID)
	}
	e.clock.Advance(15*time.Minute - time.Second)
	e.authenticate(tok.AccessToken)
	e.clock.Advance(time.Second)
	_, err = e.svc.Authenticate(ctx, tok.AccessToken)
	e.wantErr("an expired access token", err, account.ErrUnauthenticated)
	if !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token error %q should say it expired", err)
	}
}

func testRefreshRotation(t *testing.T, e *accEnv) {
	ctx := context.Background()
	u := e.signUp("ivy@example.com", "ivy", "ivy's long password")
	t1 := e.login("ivy", "ivy's long password")
	e.clock.Advance(time.Minute)
	t2, err := e.svc.Refresh(ctx, t1.RefreshToken)
	if e.err(err) != nil {
		t.Fatalf("Refresh: %v", err)
	}
	e.tokens(t2)
	if t2.RefreshToken == t1.RefreshToken || t2.AccessToken == t1.AccessToken {
		t.Fatal("Refresh returned the same tokens; it must rotate them")
	}
	if p := e.authenticate(t2.AccessToken); p.UserID != u.ID {
		t.Errorf("refreshed access token is user %d, want %d", p.UserID, u.ID)
	}
	if want := e.clock.Now().Add(30 * 24 * time.Hour); !t2.RefreshExpiresAt.Equal(want) {
		t.Errorf("rotated refresh token expires %v, want %v", t2.RefreshExpiresAt, want)
	}
	t3, err := e.svc.Refresh(ctx, t2.RefreshToken)
	if e.err(err) != nil {
		t.Fatalf("second Refresh: %v", err)
	}
	e.tokens(t3)
	stored, err := e.repo.RefreshToken(ctx, sha(t1.RefreshToken))
	if err != nil || stored.UsedAt.IsZero() || !stored.RevokedAt.IsZero() {
		t.Errorf("the first refresh token after rotation: %+v, %v; want used, not revoked", stored, err)
	}
	if _, err := e.repo.RefreshToken(ctx, []byte(t1.RefreshToken)); err == nil {
		t.Error("a refresh token is stored in clear; only its SHA-256 may be")
	}
}

// testRefreshReuse: a used refresh token coming back ends every session of
// its family, the newest token included, and no other family.
func testRefreshReuse(t *testing.T, e *accEnv) {
	ctx := context.Background()
	e.signUp("jack@example.com", "jack", "jack's long password")
	t1 := e.login("jack", "jack's long password")
	otherSession := e.login("jack", "jack's long password")
	t2, err := e.svc.Refresh(ctx, t1.RefreshToken)
	if e.err(err) != nil {
		t.Fatalf("Refresh: %v", err)
	}
	e.tokens(t2)
	_, err = e.svc.Refresh(ctx, t1.RefreshToken) // the thief, or the victim after the thief
	e.wantErr("reusing a rotated refresh token", err, account.ErrTokenReused)
	_, err = e.svc.Refresh(ctx, t2.RefreshToken)
	e.wantErr("the newest token of a revoked family", err, account.ErrUnauthenticated)
	if !strings.Contains(err.Error(), "revoked") {
		t.Errorf("error %q should say the token was revoked", err)
	}
	t3, err := e.svc.Refresh(ctx, otherSession.RefreshToken)
	if e.err(err) != nil {
		t.Fatalf("another login's session was revoked too: %v", err)
	}
	e.tokens(t3)
}

func testConcurrentRefresh(t *testing.T, e *accEnv) {
	ctx := context.Background()
	e.signUp("kim@example.com", "kim", "kim's long password")
	tok := e.login("kim", "kim's long password")
	const n = 8
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got, err := e.svc.Refresh(ctx, tok.RefreshToken)
			if err == nil {
				e.tokens(got)
			}
			results[i] = e.err(err)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		switch {
		case err == nil:
			won++
		case !strings.Contains(err.Error(), "already used") && !strings.Contains(err.Error(), "revoked"):
			t.Errorf("a losing concurrent Refresh failed with %v; want reuse detected", err)
		}
	}
	if won > 1 {
		t.Fatalf("%d concurrent Refresh calls of one token succeeded; at most one may", won)
	}
}

func testRefreshExpiry(t *testing.T, e *accEnv) {
	e.signUp("lee@example.com", "lee", "lee's long password")
	tok := e.login("lee", "lee's long password")
	e.clock.Advance(30 * 24 * time.Hour)
	_, err := e.svc.Refresh(context.Background(), tok.RefreshToken)
	e.wantErr("an expired refresh token", err, account.ErrUnauthenticated)
	if !strings.Contains(err.Error(), "expired") {
		t.Errorf("error %q should say the token expired", err)
	}
}

func testLogout(t *testing.T, e *accEnv) {
	ctx := context.Background()
	e.signUp("max@example.com", "max", "max's long password")
	t1 := e.login("max", "max's long password")
	other := e.login("max", "max's long password")
	t2, err := e.svc.Refresh(ctx, t1.RefreshToken)
	if e.err(err) != nil {
		t.Fatal(err)
	}
	e.tokens(t2)
	if err := e.err(e.svc.Logout(ctx, t2.RefreshToken)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if err := e.err(e.svc.Logout(ctx, t2.RefreshToken)); err != nil {
		t.Errorf("a second Logout: %v; want nil (already logged out)", err)
	}
	_, err = e.svc.Refresh(ctx, t2.RefreshToken)
	e.wantErr("refreshing after logout", err, account.ErrUnauthenticated)
	e.wantErr("a forged refresh token", e.svc.Logout(ctx, account.RefreshPrefix+"forged-forged-forged"), account.ErrUnauthenticated)
	o2, err := e.svc.Refresh(ctx, other.RefreshToken)
	if e.err(err) != nil {
		t.Fatalf("Logout ended another session: %v", err)
	}
	e.tokens(o2)
}

func testPATs(t *testing.T, e *accEnv) {
	ctx := context.Background()
	u := e.signUp("nina@example.com", "nina", "nina's long password")
	other := e.signUp("omar@example.com", "omar", "omar's long password")
	expires := e.clock.Now().Add(24 * time.Hour)
	secret, pat, err := e.svc.CreatePAT(ctx, u.ID, " laptop CLI ", expires)
	if e.err(err) != nil {
		t.Fatalf("CreatePAT: %v", err)
	}
	e.secret(secret)
	if !strings.HasPrefix(secret, account.PATPrefix) || len(secret) < 40 || pat.Name != "laptop CLI" ||
		!strings.HasPrefix(secret, pat.Hint) || !pat.ExpiresAt.Equal(expires) {
		t.Fatalf("CreatePAT = %d-byte token, %+v; want rbp_..., name laptop CLI, a hint, expiry %v", len(secret), pat, expires)
	}
	p := e.authenticate(secret)
	if p.UserID != u.ID || p.Username != "nina" || p.Via != account.ViaPAT || p.PATID != pat.ID {
		t.Errorf("Authenticate(PAT) = %+v", p)
	}
	noExpiry, pat2, err := e.svc.CreatePAT(ctx, u.ID, "ci", time.Time{})
	if e.err(err) != nil {
		t.Fatal(err)
	}
	e.secret(noExpiry)
	list, err := e.svc.PATs(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].ID != pat.ID || list[1].ID != pat2.ID {
		t.Fatalf("PATs = %+v, %v; want both tokens", list, err)
	}
	if len(list[0].Hint) > len(account.PATPrefix)+4 {
		t.Errorf("the listed hint %d chars long gives away too much of the token", len(list[0].Hint))
	}
	if _, err := e.repo.PATByHash(ctx, []byte(secret)); err == nil {
		t.Error("a personal access token is stored in clear")
	}

	e.wantErr("revoking another user's token", e.svc.RevokePAT(ctx, other.ID, pat.ID), store.ErrNotFound)
	e.authenticate(secret)
	if err := e.err(e.svc.RevokePAT(ctx, u.ID, pat.ID)); err != nil {
		t.Fatalf("RevokePAT: %v", err)
	}
	_, err = e.svc.Authenticate(ctx, secret)
	e.wantErr("a revoked PAT", err, account.ErrUnauthenticated)
	if err := e.err(e.svc.RevokePAT(ctx, u.ID, pat.ID)); err != nil {
		t.Errorf("revoking twice: %v; want nil", err)
	}

	e.clock.Advance(365 * 24 * time.Hour)
	e.authenticate(noExpiry)
	short, _, err := e.svc.CreatePAT(ctx, u.ID, "short", e.clock.Now().Add(time.Hour))
	if e.err(err) != nil {
		t.Fatal(err)
	}
	e.secret(short)
	e.clock.Advance(time.Hour - time.Microsecond)
	e.authenticate(short)
	e.clock.Advance(time.Microsecond)
	_, err = e.svc.Authenticate(ctx, short)
	e.wantErr("an expired PAT", err, account.ErrUnauthenticated)
	_, _, err = e.svc.CreatePAT(ctx, u.ID, "past", e.clock.Now().Add(-time.Second))
	e.wantErr("an expiry in the past", err, account.ErrInvalid)
	_, _, err = e.svc.CreatePAT(ctx, u.ID, "  ", time.Time{})
	e.wantErr("a blank name", err, account.ErrInvalid)
}

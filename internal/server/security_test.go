package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

// TestOtherTenantSeesNothing calls every tenant route with another
// tenant's valid token: each answers exactly what a run that does not
// exist answers, and nothing of the victim's changes.
func TestOtherTenantSeesNothing(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	victim, mallory := h.signUp("victim"), h.signUp("mallory")
	run := h.submit(victim, "steps:\n  - name: s\n    command: echo private\n", "?branch=secret-branch")
	before := h.waitEnd(victim, run.ID)

	missing := h.request("GET", runPath(mallory.tenant, 999999), mallory.access, nil)
	want(t, missing, http.StatusNotFound, "a run that does not exist")

	ids := map[string]string{"run": strconv.FormatInt(run.ID, 10), "step": "s"}
	cases := map[string]map[string]string{
		"the victim's tenant":       {"tenant": strconv.FormatInt(victim.tenant, 10)},
		"a tenant that isn't there": {"tenant": "999999"},
		"a tenant id that is junk":  {"tenant": "x"},
		"own tenant, victim's run":  {"tenant": strconv.FormatInt(mallory.tenant, 10)},
	}
	covered := 0
	for name, vals := range cases {
		for k, v := range ids {
			vals[k] = v
		}
		for _, r := range routes {
			if r.access != tenantMember || (name == "own tenant, victim's run" && !strings.Contains(r.pattern, "{run}")) {
				continue
			}
			covered++
			var body *strings.Reader
			if r.method == "POST" {
				body = strings.NewReader("steps:\n  - name: x\n    command: 'true'\n")
			} else {
				body = strings.NewReader("")
			}
			res := h.request(r.method, r.path(vals), mallory.access, body, "Last-Event-ID", "0")
			if res.code != missing.code || !bytes.Equal(res.body, missing.body) || res.hdr.Get("Content-Type") != missing.hdr.Get("Content-Type") {
				t.Errorf("%s, %s: %s; want exactly the answer for a missing run: %s", name, r.key(), res, missing)
			}
		}
	}
	if covered < 3*9 {
		t.Fatalf("only %d tenant route calls: is the routes table empty?", covered)
	}
	after := h.getRun(victim, run.ID)
	if after.Status != before.Status || after.LastSeq != before.LastSeq {
		t.Errorf("the victim's run changed: %+v → %+v", before, after)
	}
	if ids := listAll(t, h, victim, "", 100); len(ids) != 1 {
		t.Errorf("the victim's tenant has runs %v, want only its own", ids)
	}
}

// claims are valid access token claims for u, as of the harness clock.
func claims(h *harness, u *user) jwt.RegisteredClaims {
	now := h.clock.Now()
	return jwt.RegisteredClaims{
		Issuer: "runbook", Subject: strconv.FormatInt(u.id, 10),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestBadTokensAre401(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("tess")
	me := func(token string) *resp { return h.request("GET", "/api/v1/user", token, nil) }
	want(t, me(u.access), http.StatusOK, "a valid token")

	sign := func(m jwt.SigningMethod, key any, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// RS256 in the header, HMAC'd with the real secret: the classic
	// algorithm confusion.
	confused := b64(`{"alg":"RS256","typ":"JWT"}`) + "." + b64(fmt.Sprintf(`{"iss":"runbook","sub":"%d","iat":%d,"exp":%d}`, u.id, time.Now().Unix(), time.Now().Add(time.Hour).Unix()))
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(confused))
	confused += "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	wrongIssuer := claims(h, u)
	wrongIssuer.Issuer = "someone-else"
	noExpiry := claims(h, u)
	noExpiry.ExpiresAt = nil

	bad := map[string]string{
		"forged (another secret)": sign(jwt.SigningMethodHS256, []byte("another-secret-that-is-long-enough-000"), claims(h, u)),
		"alg none":                sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(h, u)),
		"alg none, hand-made":     b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(fmt.Sprintf(`{"iss":"runbook","sub":"%d","exp":%d}`, u.id, time.Now().Add(time.Hour).Unix())) + ".",
		"RS256 with a key pair":   sign(jwt.SigningMethodRS256, rsaKey, claims(h, u)),
		"RS256 header, HMAC'd":    confused,
		"wrong issuer":            sign(jwt.SigningMethodHS256, []byte(testSecret), wrongIssuer),
		"no expiry":               sign(jwt.SigningMethodHS256, []byte(testSecret), noExpiry),
		"tampered subject":        u.access[:strings.Index(u.access, ".")+1] + b64(`{"iss":"runbook","sub":"1","exp":9999999999}`) + u.access[strings.LastIndex(u.access, "."):],
		"garbage":                 "garbage",
		"three dots":              "a.b.c",
		"unknown PAT":             account.PATPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"a refresh token":         u.refresh,
	}
	for name, token := range bad {
		h.secret(token)
		r := me(token)
		if r.code != http.StatusUnauthorized || !strings.Contains(string(r.body), `"invalid_token"`) {
			t.Errorf("%s: %s, want 401 invalid_token", name, r)
		}
		if r := h.request("GET", runsPath(u.tenant), token, nil); r.code != http.StatusUnauthorized {
			t.Errorf("%s on a tenant route: %s, want 401", name, r)
		}
	}
	for name, hdr := range map[string]string{"no header": "", "basic": "Basic dGVzczpwdw==", "empty bearer": "Bearer "} {
		r := h.request("GET", "/api/v1/user", "", nil, "Authorization", hdr)
		if r.code != http.StatusUnauthorized || r.hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %s, want 401 with WWW-Authenticate", name, r)
		}
	}

	// Expiry follows the accounts' clock; the refresh token outlives it.
	h.clock.Advance(16 * time.Minute)
	if r := me(u.access); r.code != http.StatusUnauthorized {
		t.Errorf("an expired access token: %s, want 401", r)
	}
	r := h.json("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": u.refresh})
	want(t, r, http.StatusOK, "refresh after the access token expired")
	var tk tokensJSON
	r.decode(t, &tk)
	h.secret(tk.AccessToken)
	h.secret(tk.RefreshToken)
	want(t, me(tk.AccessToken), http.StatusOK, "the refreshed access token")
}

// testSecret is the harness's token secret.
const testSecret = "test-secret-of-the-api-harness-0123456789"

func TestRefreshReuseRevokesFamily(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("rita")
	refresh := func(token string) *resp {
		return h.json("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
	}
	first := u.refresh
	r := refresh(first)
	want(t, r, http.StatusOK, "first refresh")
	var newer tokensJSON
	r.decode(t, &newer)
	h.secret(newer.AccessToken)
	h.secret(newer.RefreshToken)
	if newer.RefreshToken == first {
		t.Fatal("refresh did not rotate the refresh token")
	}
	// The stolen copy comes back: the family goes, the newest token with it.
	if r := refresh(first); r.code != http.StatusUnauthorized {
		t.Errorf("reused refresh token: %s, want 401", r)
	}
	if r := refresh(newer.RefreshToken); r.code != http.StatusUnauthorized {
		t.Errorf("the newest token of a revoked family: %s, want 401", r)
	}
	// Another login is another family, untouched; logout ends it.
	tk := h.login(u)
	want(t, h.json("POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": tk.RefreshToken}), http.StatusNoContent, "logout")
	if r := refresh(tk.RefreshToken); r.code != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %s, want 401", r)
	}
}

func TestPersonalAccessTokens(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u, other := h.signUp("pat-user"), h.signUp("pat-other")
	r := h.json("POST", "/api/v1/user/tokens", u.access, map[string]any{"name": "ci", "expires_in_days": 30})
	want(t, r, http.StatusCreated, "create PAT")
	var created struct {
		Token string `json:"token"`
		PAT   struct {
			ID   int64  `json:"id"`
			Hint string `json:"hint"`
		} `json:"pat"`
	}
	r.decode(t, &created)
	h.secret(created.Token)
	if !strings.HasPrefix(created.Token, account.PATPrefix) || !strings.HasPrefix(created.Token, created.PAT.Hint) || len(created.PAT.Hint) >= len(created.Token)/2 {
		t.Fatalf("PAT %q with hint %q", created.Token, created.PAT.Hint)
	}
	want(t, h.request("GET", "/api/v1/user", created.Token, nil), http.StatusOK, "PAT as bearer")
	want(t, h.request("GET", runsPath(u.tenant), created.Token, nil), http.StatusOK, "PAT on a tenant route")
	list := h.request("GET", "/api/v1/user/tokens", u.access, nil)
	want(t, list, http.StatusOK, "list PATs")
	if strings.Contains(string(list.body), created.Token) || !strings.Contains(string(list.body), created.PAT.Hint) {
		t.Errorf("the list shows the secret or hides the hint: %s", list.body)
	}
	path := fmt.Sprintf("/api/v1/user/tokens/%d", created.PAT.ID)
	want(t, h.request("DELETE", path, other.access, nil), http.StatusNotFound, "revoking another user's PAT")
	want(t, h.request("GET", "/api/v1/user", created.Token, nil), http.StatusOK, "PAT after a stranger's revoke")
	want(t, h.request("DELETE", path, u.access, nil), http.StatusNoContent, "revoke PAT")
	want(t, h.request("GET", "/api/v1/user", created.Token, nil), http.StatusUnauthorized, "revoked PAT")
}

func TestLoginErrorsRevealNothing(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("lena")
	login := func(name, pw string) *resp {
		h.secret(pw)
		return h.json("POST", "/api/v1/auth/login", "", map[string]string{"login": name, "password": pw})
	}
	wrong := login(u.name, "wrong password 1")
	unknown := login("nobody-here", "wrong password 1")
	if wrong.code != http.StatusUnauthorized || wrong.code != unknown.code || !bytes.Equal(wrong.body, unknown.body) {
		t.Fatalf("wrong password: %s; unknown user: %s; want the same 401", wrong, unknown)
	}

	// After repeated failures: 429 with Retry-After, for real and made-up
	// accounts alike; the right password works again once it has passed.
	var limited, limitedUnknown *resp
	for i := 0; i < 10 && (limited == nil || limitedUnknown == nil); i++ {
		if r := login(u.name, fmt.Sprintf("wrong password %d", i)); r.code == http.StatusTooManyRequests && limited == nil {
			limited = r
		}
		if r := login("nobody-here", fmt.Sprintf("wrong password %d", i)); r.code == http.StatusTooManyRequests && limitedUnknown == nil {
			limitedUnknown = r
		}
	}
	if limited == nil || limitedUnknown == nil {
		t.Fatal("10 failed logins were never rate-limited")
	}
	secs, err := strconv.Atoi(limited.hdr.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q, want whole seconds ≥ 1", limited.hdr.Get("Retry-After"))
	}
	if limitedUnknown.hdr.Get("Retry-After") == "" || !strings.Contains(string(limitedUnknown.body), `"rate_limited"`) {
		t.Errorf("an unknown account's limit differs: %s", limitedUnknown)
	}
	if r := login(u.name, u.password); r.code != http.StatusTooManyRequests {
		t.Errorf("the right password while limited: %s, want 429", r)
	}
	h.clock.Advance(time.Duration(secs) * time.Second)
	want(t, login(u.name, u.password), http.StatusOK, "the right password after Retry-After")
}

func TestRequestBodiesAreBounded(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("bea")
	big := "steps:\n  - name: a\n    command: echo " + strings.Repeat("x", 2<<20) + "\n"
	r := h.request("POST", runsPath(u.tenant), u.access, strings.NewReader(big))
	want(t, r, http.StatusRequestEntityTooLarge, "a 2 MiB upload")

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", ".runbook.yml")
	fw.Write([]byte(big))
	mw.Close()
	r = h.request("POST", runsPath(u.tenant), u.access, &body, "Content-Type", mw.FormDataContentType())
	want(t, r, http.StatusRequestEntityTooLarge, "a 2 MiB multipart upload")

	// One byte over the limit is over; the limit itself is not (the file is
	// then rejected for what it says, not for its size).
	atLimit := "steps:\n  - name: a\n    command: echo hi\n#"
	atLimit += strings.Repeat("x", workflow.MaxFileSize-len(atLimit))
	if r := h.request("POST", runsPath(u.tenant), u.access, strings.NewReader(atLimit+"x")); r.code != http.StatusRequestEntityTooLarge {
		t.Errorf("MaxFileSize+1 bytes: %s, want 413", r)
	}
	if r := h.request("POST", runsPath(u.tenant), u.access, strings.NewReader(atLimit)); r.code != http.StatusCreated {
		t.Errorf("MaxFileSize bytes: %s, want 201", r)
	}

	login := `{"login":"bea","password":"` + strings.Repeat("p", 1<<20) + `"}`
	r = h.request("POST", "/api/v1/auth/login", "", strings.NewReader(login), "Content-Type", "application/json")
	want(t, r, http.StatusRequestEntityTooLarge, "a 1 MiB login body")
	r = h.request("POST", "/api/v1/auth/signup", "", strings.NewReader(login), "Content-Type", "application/json")
	want(t, r, http.StatusRequestEntityTooLarge, "a 1 MiB signup body")
	runs, err := h.st.ListRuns(context.Background(), u.tenant, store.RunFilter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.Runs) != 1 {
		t.Errorf("%d runs stored, want only the one at the limit", len(runs.Runs))
	}
}

package github

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/runbookhq/runbook/internal/forge/forgetest"
)

const inst = 77

// clock is a movable clock for an App, starting at the real time.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

type fixture struct {
	srv   *forgetest.AppServer
	app   *App
	clock *clock
	logs  *bytes.Buffer
}

func setup(t *testing.T, mod ...func(*AppConfig)) fixture {
	t.Helper()
	srv := forgetest.NewAppServer(t)
	srv.AddInstallation(inst, "acme")
	f := fixture{srv: srv, clock: &clock{}, logs: &bytes.Buffer{}}
	cfg := AppConfig{AppID: srv.AppID, PrivateKeyPEM: srv.KeyPEM(), KeySource: "env TEST_KEY", BaseURL: srv.URL,
		APIURL: srv.APIURL, Now: f.clock.Now, WebhookSecret: "whsec",
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mod {
		m(&cfg)
	}
	app, err := NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.app = app
	t.Cleanup(func() { f.noSecrets(t, f.logs.String()) })
	return f
}

// noSecrets fails when text holds a token the fake issued or the key.
func (f fixture) noSecrets(t *testing.T, text string) {
	t.Helper()
	for _, tok := range f.srv.Tokens() {
		if strings.Contains(text, tok) || strings.Contains(text, tok[4:40]) {
			t.Errorf("an installation token leaked into: %.200s", text)
		}
	}
	if strings.Contains(text, "PRIVATE KEY") || strings.Contains(text, "eyJ") {
		t.Errorf("key or JWT text leaked into: %.200s", text)
	}
}

func TestKeyValidation(t *testing.T) {
	good := forgetest.NewAppServer(t).KeyPEM()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ec)
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	certDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: bigOne()}, &x509.Certificate{SerialNumber: bigOne()}, &rk.PublicKey, rk)
	lines := strings.Split(string(good), "\n")
	cases := map[string]struct {
		pem  []byte
		want string
	}{
		"escaped newlines": {[]byte(strings.ReplaceAll(string(good), "\n", `\n`)), `literal "\n"`},
		"not PEM":          {[]byte("hello, I am not a key"), "is not PEM"},
		"truncated":        {[]byte(strings.Join(lines[:len(lines)/2], "\n")), "truncated"},
		"body cut":         {[]byte(strings.Join(append(lines[:3], lines[len(lines)-2:]...), "\n")), "truncated or corrupt"},
		"EC key":           {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), "is an EC key"},
		"EC in PKCS8":      {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecPKCS8}), "ecdsa"},
		"certificate":      {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), "is a certificate"},
		"empty":            {nil, "no private key"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewApp(AppConfig{AppID: 1, PrivateKeyPEM: c.pem, KeySource: "env RUNBOOK_GITHUB_APP_KEY"})
			if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want ErrBadKey saying %q", err, c.want)
			}
			if c.pem != nil && !strings.Contains(err.Error(), "env RUNBOOK_GITHUB_APP_KEY") {
				t.Errorf("error does not name the key's source: %v", err)
			}
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), lines[1]) {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.pem")
		if err := os.WriteFile(path, good[:len(good)/2], 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := NewApp(AppConfig{AppID: 1, KeyFile: path})
		if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "file "+path) {
			t.Fatalf("err = %v; want ErrBadKey naming %s", err, path)
		}
		_, err = NewApp(AppConfig{AppID: 1, KeyFile: path + ".missing"})
		if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), path+".missing") {
			t.Fatalf("err = %v; want ErrBadKey naming the missing file", err)
		}
		if err := os.WriteFile(path, good, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewApp(AppConfig{AppID: 1, KeyFile: path}); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := NewApp(AppConfig{PrivateKeyPEM: good}); err == nil {
		t.Error("an app without an ID or client ID was accepted")
	}
}

func TestJWTClaimsAndCache(t *testing.T) {
	f := setup(t)
	s1, err := f.app.JWT()
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(s1, claims, func(*jwt.Token) (any, error) { return &f.srv.Key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithJSONNumber()); err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now().Unix()
	iat, _ := claims["iat"].(interface{ Int64() (int64, error) }).Int64()
	exp, _ := claims["exp"].(interface{ Int64() (int64, error) }).Int64()
	if d := now - iat; d < 59 || d > 61 {
		t.Errorf("iat is %d s before now; want 60", d)
	}
	if d := exp - now; d < 539 || d > 540 {
		t.Errorf("exp is %d s after now; want 540", d)
	}
	if claims["iss"] != "4242" {
		t.Errorf("iss = %v; want the app id 4242", claims["iss"])
	}
	f.clock.Add(7 * time.Minute)
	if s2, _ := f.app.JWT(); s2 != s1 {
		t.Error("the JWT was re-signed with 2 minutes left; want it cached")
	}
	f.clock.Add(90 * time.Second)
	if s3, _ := f.app.JWT(); s3 == s1 {
		t.Error("the JWT was not renewed 30 s before it expires")
	}
}

func TestClientIDIssuerAccepted(t *testing.T) {
	f := setup(t, func(c *AppConfig) { c.ClientID = "Iv23liRunbookTest" })
	if _, err := f.app.InstallationToken(context.Background(), inst, Scope{}); err != nil {
		t.Fatal(err)
	}
	if f.srv.JWTs() != 1 {
		t.Errorf("the fake verified %d JWTs; want 1", f.srv.JWTs())
	}
}

const tokensRoute = "POST /api/v3/app/installations/{id}/access_tokens"

func TestInstallationTokenCache(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	toks := make([]InstallationToken, 20)
	for i := range toks {
		wg.Go(func() {
			var err error
			toks[i], err = f.app.InstallationToken(ctx, inst, Scope{})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.srv.Calls(tokensRoute); n != 1 {
		t.Fatalf("20 concurrent calls made %d token requests; want 1", n)
	}
	if l := len(toks[0].Token.Reveal()); l < 500 || l > MaxTokenLen {
		t.Errorf("token length %d", l)
	}
	// 54 minutes on (6 left): cached. 56 minutes on (4 left): renewed.
	f.clock.Add(54 * time.Minute)
	f.srv.SetClockOffset(54 * time.Minute)
	if _, err := f.app.InstallationToken(ctx, inst, Scope{}); err != nil || f.srv.Calls(tokensRoute) != 1 {
		t.Fatalf("err %v, %d requests; want the cached token with 6 minutes left", err, f.srv.Calls(tokensRoute))
	}
	f.clock.Add(2 * time.Minute)
	f.srv.SetClockOffset(56 * time.Minute)
	renewed, err := f.app.InstallationToken(ctx, inst, Scope{})
	if err != nil || f.srv.Calls(tokensRoute) != 2 || renewed.Token.Reveal() == toks[0].Token.Reveal() {
		t.Fatalf("err %v, %d requests; want a new token with 4 minutes left", err, f.srv.Calls(tokensRoute))
	}
	// A narrowed token is cached apart from the full one.
	f.srv.CreateRepo(inst, "web", map[string]string{"README": "hi"})
	narrow, err := f.app.InstallationToken(ctx, inst, ReadRepo("web"))
	if err != nil || narrow.Token.Reveal() == renewed.Token.Reveal() || f.srv.Calls(tokensRoute) != 3 {
		t.Fatalf("narrowed token: err %v, %d requests", err, f.srv.Calls(tokensRoute))
	}
	if again, _ := f.app.InstallationToken(ctx, inst, ReadRepo("web")); again != narrow {
		t.Error("the narrowed token was not cached")
	}
}

func TestTokenRedacted(t *testing.T) {
	f := setup(t)
	it, err := f.app.InstallationToken(context.Background(), inst, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "tok", it.Token, "it", it)
	fmt.Fprintf(&b, "%v %+v %#v %s %q %x", it, it, it, it.Token, it.Token, it.Token)
	f.noSecrets(t, b.String())
	if !strings.Contains(b.String(), "[redacted]") {
		t.Errorf("no redaction marker in %s", b.String())
	}
	if !strings.Contains(f.logs.String(), "installation token issued") {
		t.Error("the issue of a token was not logged (the leak check would prove nothing)")
	}
}

func TestClearErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("key of another app", func(t *testing.T) {
		other := forgetest.NewAppServer(t).KeyPEM()
		f := setup(t, func(c *AppConfig) { c.PrivateKeyPEM = other })
		_, err := f.app.InstallationToken(ctx, inst, Scope{})
		want := "GitHub rejected the app JWT: the private key does not belong to app 4242. Check that the app ID and the key come from the same GitHub App."
		if !errors.Is(err, ErrKeyMismatch) || err.Error() != want {
			t.Fatalf("err = %v", err)
		}
		f.noSecrets(t, err.Error())
	})
	t.Run("clock ahead", func(t *testing.T) {
		f := setup(t)
		f.srv.SetClockOffset(-2 * time.Minute) // GitHub's clock is 2 minutes behind ours
		_, err := f.app.InstallationToken(ctx, inst, Scope{})
		var ae *AppError
		if !errors.Is(err, ErrClockSkew) || !errors.As(err, &ae) || ae.SkewSeconds < 119 || ae.SkewSeconds > 121 ||
			!strings.HasSuffix(err.Error(), "s off GitHub's; enable NTP") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("clock behind", func(t *testing.T) {
		f := setup(t)
		f.srv.SetClockOffset(15 * time.Minute)
		_, err := f.app.InstallationToken(ctx, inst, Scope{})
		var ae *AppError
		if !errors.Is(err, ErrClockSkew) || !errors.As(err, &ae) || ae.SkewSeconds < -901 || ae.SkewSeconds > -899 || !strings.Contains(err.Error(), fmt.Sprintf("clock is %d s off", -ae.SkewSeconds)) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("small skew works", func(t *testing.T) {
		f := setup(t)
		f.srv.SetClockOffset(-40 * time.Second)
		if _, err := f.app.InstallationToken(ctx, inst, Scope{}); err != nil {
			t.Fatal(err)
		}
		if s := f.app.ClockSkew(); s < 39*time.Second || s > 41*time.Second {
			t.Errorf("ClockSkew = %v; want 40s", s)
		}
	})
	t.Run("uninstalled", func(t *testing.T) {
		f := setup(t)
		_, err := f.app.InstallationToken(ctx, 999, Scope{})
		if !errors.Is(err, ErrNotInstalled) || err.Error() != "installation 999 not found for this app; was it uninstalled? Reinstall the app" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("suspended", func(t *testing.T) {
		f := setup(t)
		f.srv.Suspend(inst, true)
		_, err := f.app.InstallationToken(ctx, inst, Scope{})
		if !errors.Is(err, ErrSuspended) || !strings.Contains(err.Error(), "installation 77 was suspended on GitHub") {
			t.Fatalf("err = %v", err)
		}
	})
}

func bigOne() *bigInt { return newBigInt(1) }

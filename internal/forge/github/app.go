package github

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v93/github"
)

// AppConfig configures the GitHub App. Set AppID or ClientID (the JWT's
// issuer; GitHub accepts either), and the key as PEM bytes or a file.
type AppConfig struct {
	AppID    int64
	ClientID string // preferred by GitHub over the app ID when both are set

	// PrivateKeyPEM is the app's private key; KeySource names where it came
	// from in errors, e.g. "env RUNBOOK_GITHUB_APP_PRIVATE_KEY".
	PrivateKeyPEM []byte
	KeySource     string
	// KeyFile is the path of the .pem file, read when PrivateKeyPEM is empty.
	KeyFile string

	WebhookSecret string

	// BaseURL is GitHub's web address ("https://github.com/" by default, or
	// an Enterprise Server's); APIURL defaults to https://api.github.com/
	// for github.com and BaseURL + "api/v3/" elsewhere.
	BaseURL string
	APIURL  string

	HTTPClient *http.Client     // nil: http.DefaultClient
	Now        func() time.Time // nil: time.Now; tests move it
	Logger     *slog.Logger     // nil: slog.Default()
}

// App signs app JWTs and hands out installation tokens and clients. It is
// safe for concurrent use.
type App struct {
	iss     string
	key     *rsa.PrivateKey
	secret  []byte
	apiURL  string
	httpc   *http.Client
	now     func() time.Time
	log     *slog.Logger
	skewSec atomic.Int64 // local minus GitHub's Date, from the last answer

	jwtMu  sync.Mutex
	jwt    string
	jwtExp time.Time

	tokMu sync.Mutex
	toks  map[string]*tokenEntry
}

// JWT lifetime: GitHub rejects exp more than 10 minutes ahead, and iat is
// backdated a minute to allow for clock drift, as GitHub advises.
const (
	jwtBackdate = 60 * time.Second
	jwtLifetime = 9 * time.Minute
	jwtRenew    = 1 * time.Minute // renew this long before exp
	maxSkew     = 30 * time.Second
)

// NewApp validates cfg and the private key.
func NewApp(cfg AppConfig) (*App, error) {
	iss := cfg.ClientID
	if iss == "" && cfg.AppID > 0 {
		iss = strconv.FormatInt(cfg.AppID, 10)
	}
	if iss == "" {
		return nil, errors.New("github app: set the App ID or the client ID (both are on the GitHub App's settings page)")
	}
	pemBytes, src := cfg.PrivateKeyPEM, cfg.KeySource
	if src == "" {
		src = "(given in the configuration)"
	}
	if len(pemBytes) == 0 && cfg.KeyFile != "" {
		b, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, &AppError{Kind: ErrBadKey, Msg: fmt.Sprintf("GitHub App private key file %s cannot be read: %v", cfg.KeyFile, unwrapPath(err))}
		}
		pemBytes, src = b, "file "+cfg.KeyFile
	}
	if len(pemBytes) == 0 {
		return nil, &AppError{Kind: ErrBadKey, Msg: "github app: no private key: set the key file path or the key itself"}
	}
	key, err := parseKey(src, pemBytes)
	if err != nil {
		return nil, err
	}
	web, err := absURL("base URL", cfg.BaseURL, "https://github.com/")
	if err != nil {
		return nil, err
	}
	defAPI := web + "api/v3/"
	if u, _ := url.Parse(web); u.Host == "github.com" {
		defAPI = "https://api.github.com/"
	}
	api, err := absURL("API URL", cfg.APIURL, defAPI)
	if err != nil {
		return nil, err
	}
	a := &App{iss: iss, key: key, secret: []byte(cfg.WebhookSecret), apiURL: api,
		now: cfg.Now, log: cfg.Logger, toks: map[string]*tokenEntry{}}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	base := http.DefaultClient
	if cfg.HTTPClient != nil {
		base = cfg.HTTPClient
	}
	hc := *base
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc.Transport = &skewTransport{base: rt, app: a}
	a.httpc = &hc
	return a, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func absURL(what, s, def string) (string, error) {
	if s == "" {
		s = def
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("github app: %s %q is not an absolute http(s) URL like https://github.example.com/", what, s)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

// Issuer is the JWT issuer: the client ID, or the app ID.
func (a *App) Issuer() string { return a.iss }

// WebhookSecret is the secret that signs GitHub's webhook deliveries.
func (a *App) WebhookSecret() []byte { return a.secret }

// ClockSkew is how far this server's clock was ahead of GitHub's Date
// header (negative: behind) at the last answer, to whole seconds.
func (a *App) ClockSkew() time.Duration { return time.Duration(a.skewSec.Load()) * time.Second }

// JWT returns the app's JWT, signed anew when the cached one is within a
// minute of its expiry.
func (a *App) JWT() (string, error) {
	a.jwtMu.Lock()
	defer a.jwtMu.Unlock()
	now := a.now()
	if a.jwt != "" && now.Before(a.jwtExp.Add(-jwtRenew)) {
		return a.jwt, nil
	}
	now = now.Truncate(time.Second)
	exp := now.Add(jwtLifetime)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    a.iss,
		IssuedAt:  jwt.NewNumericDate(now.Add(-jwtBackdate)),
		ExpiresAt: jwt.NewNumericDate(exp),
	})
	s, err := tok.SignedString(a.key)
	if err != nil {
		return "", &AppError{Kind: ErrBadKey, Msg: "github app: signing the app JWT failed: " + err.Error()}
	}
	a.jwt, a.jwtExp = s, exp
	return s, nil
}

// client is a go-github client that authenticates with auth.
func (a *App) client(auth string) *gh.Client {
	c, err := gh.NewClient(gh.WithHTTPClient(a.httpc), gh.WithAuthToken(auth), gh.WithURLs(&a.apiURL, &a.apiURL))
	if err != nil { // only for malformed URLs, which NewApp has refused
		panic("github app: " + err.Error())
	}
	return c
}

// skewTransport measures the clock skew against each answer's Date header.
type skewTransport struct {
	base http.RoundTripper
	app  *App
}

func (t *skewTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
			t.app.skewSec.Store(int64(t.app.now().Sub(d).Round(time.Second) / time.Second))
		}
	}
	return resp, err
}

// status returns the HTTP status and GitHub's message of an API error.
func status(err error) (int, string) {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode, er.Message
	}
	return 0, ""
}

// jwtError explains a failure of a call made with the app JWT.
func (a *App) jwtError(call string, err error, jwtText string) error {
	code, msg := status(err)
	if code == http.StatusUnauthorized {
		if s := a.skewSec.Load(); time.Duration(abs(s))*time.Second > maxSkew {
			return clockSkew(s)
		}
		if strings.Contains(msg, "could not be decoded") {
			return keyMismatch(a.iss)
		}
		return &AppError{Kind: ErrKeyMismatch, Msg: fmt.Sprintf("GitHub rejected the app JWT of app %s (it said %q); check the app ID, the key and this server's clock", a.iss, redact(msg, jwtText))}
	}
	return unavailable(call, err, jwtText)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"sync"

	"time"
	"unicode/utf8"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/runbookhq/runbook/internal/store"
)

// Config configures a Service. Zero fields take the defaults.
type Config struct {
	// Secret signs access tokens (HS256); at least 32 bytes. Every server
	// replica needs the same one; changing it logs everybody out within
	// AccessTTL.
	Secret     []byte
	AccessTTL  time.Duration // default 15 minutes
	RefreshTTL time.Duration // default 30 days
	Hasher     Hasher        // default DefaultArgon2id
	// AccountLimit and IPLimit bound failed logins; default
	// DefaultAccountLimit and DefaultIPLimit.
	AccountLimit, IPLimit Limit
	Now                   func() time.Time // default time.Now
	Logger                *slog.Logger     // default: discard
	// SignUpGate, if set, is asked before any account is created (sign-up
	// or a first provider login); an error, best wrapping ErrForbidden,
	// refuses it. Calls are serialised with the creation, so a gate that
	// counts users sees each new one.
	SignUpGate func(ctx context.Context) error
}

// Service is the account logic. It is safe for concurrent use.
type Service struct {
	repo       Repo
	secret     []byte
	accessTTL  time.Duration
	refreshTTL time.Duration
	hasher     Hasher
	dummy      string // see dummyHash
	dummyOnce  sync.Once
	// principals caches who an access token's subject is for
	// principalTTL, sparing a database read on nearly every request; a
	// deleted account's access tokens thus work up to that much longer.
	principals *expirable.LRU[int64, Principal]
	verified   *expirable.LRU[[32]byte, verifiedToken] // by SHA-256 of the access token
	byAccount  *limiter
	byIP       *limiter
	now        func() time.Time
	log        *slog.Logger
	gate       func(ctx context.Context) error
	gateMu     sync.Mutex // held from gate to creation
}

// principalTTL bounds how long Authenticate reuses a looked-up user.
const principalTTL = 5 * time.Second

// MinSecretLen is the shortest accepted token secret: HS256's key size.
const MinSecretLen = 32

// New returns a Service over repo.
func New(repo Repo, cfg Config) (*Service, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("account: the token secret is %d bytes; it must be at least %d (generate one with: openssl rand -base64 48)",
			len(cfg.Secret), MinSecretLen)
	}
	s := &Service{
		repo: repo, secret: cfg.Secret, accessTTL: cfg.AccessTTL, refreshTTL: cfg.RefreshTTL,
		hasher: cfg.Hasher, now: cfg.Now, log: cfg.Logger, gate: cfg.SignUpGate,
	}
	if s.accessTTL <= 0 {
		s.accessTTL = 15 * time.Minute
	}
	if s.refreshTTL <= 0 {
		s.refreshTTL = 30 * 24 * time.Hour
	}
	if s.hasher == nil {
		s.hasher = DefaultArgon2id
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clock := s.now
	s.now = func() time.Time { return clock().UTC().Truncate(time.Microsecond) } // what both databases keep
	if cfg.AccountLimit.Burst == 0 {
		cfg.AccountLimit = DefaultAccountLimit
	}
	if cfg.IPLimit.Burst == 0 {
		cfg.IPLimit = DefaultIPLimit
	}
	s.byAccount, s.byIP = newLimiter(cfg.AccountLimit, s.now), newLimiter(cfg.IPLimit, s.now)
	s.principals = expirable.NewLRU[int64, Principal](8192, nil, principalTTL)
	s.verified = expirable.NewLRU[[32]byte, verifiedToken](8192, nil, principalTTL)
	return s, nil
}

// dummyHash is a hash with the current parameters, verified for unknown
// users so that their logins cost what real ones do. It is made at the
// first use, not in New: argon2id's 19 MiB would otherwise stay in the
// server's memory from start-up on.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		var err error
		if s.dummy, err = s.hasher.Hash(randomToken(16)); err != nil {
			s.log.Error("making the dummy password hash", "err", err)
		}
	})
	return s.dummy
}

// Input bounds.
const (
	MinPasswordLen = 10  // characters
	MaxPasswordLen = 256 // bytes: beyond it is a paste accident or an attack
	maxEmailLen    = 254
)

var usernameRE = regexp.MustCompile(`^[a-z0-9-]{2,39}$`)

// SignUp creates an account with a password, and its personal tenant.
// Username and email are compared case-insensitively and stored lower-case.
func (s *Service) SignUp(ctx context.Context, email, username, password string) (User, error) {
	email, username = normalize(email), normalize(username)
	if err := validEmail(email); err != nil {
		return User{}, err
	}
	if err := validName("username", username); err != nil {
		return User{}, err
	}
	if n := utf8.RuneCountInString(password); n < MinPasswordLen {
		return User{}, fmt.Errorf("%w: the password has %d characters; use at least %d", ErrInvalid, n, MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return User{}, fmt.Errorf("%w: the password is longer than %d bytes", ErrInvalid, MaxPasswordLen)
	}
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return User{}, err
	}
	u, err := s.createUser(ctx, NewUser{Username: username, Email: email, PasswordHash: hash, CreatedAt: s.now()})
	if err != nil {
		return User{}, err
	}
	s.log.InfoContext(ctx, "account created", "user_id", u.ID, "username", u.Username)
	return u, nil
}

// createUser stores a new account if the sign-up gate lets it.
func (s *Service) createUser(ctx context.Context, nu NewUser) (User, error) {
	if s.gate == nil {
		return s.repo.CreateUser(ctx, nu)
	}
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	if err := s.gate(ctx); err != nil {
		return User{}, err
	}
	return s.repo.CreateUser(ctx, nu)
}

// MarkEmailVerified records that the user proved they own their email (for
// the verification flow to come); only then may a provider login link to it.
func (s *Service) MarkEmailVerified(ctx context.Context, userID int64) error {
	return s.repo.SetEmailVerified(ctx, userID, true)
}

func normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validEmail(email string) error {
	a, err := mail.ParseAddress(email)
	at := strings.LastIndexByte(email, '@')
	if err != nil || a.Address != email || len(email) > maxEmailLen || at < 1 ||
		!strings.Contains(email[at+1:], ".") || strings.HasSuffix(email, ".") {
		return fmt.Errorf("%w: %q is not an email address like name@example.com", ErrInvalid, email)
	}
	return nil
}

func validName(what, name string) error {
	if !usernameRE.MatchString(name) {
		return fmt.Errorf("%w: the %s %q must be 2 to 39 characters of a-z, 0-9 and -", ErrInvalid, what, name)
	}
	return nil
}

// Login checks a password and starts a session. Every failure other than
// rate limiting returns ErrBadCredentials, in about the same time whether
// or not the account exists.
func (s *Service) Login(ctx context.Context, emailOrUsername, password, clientIP string) (Tokens, error) {
	login, ipk := "account:"+normalize(emailOrUsername), "ip:"+ipKey(clientIP)
	if wait := s.byIP.take(ipk); wait > 0 {
		s.log.WarnContext(ctx, "login rate-limited", "by", "ip", "client_ip", clientIP)
		return Tokens{}, &RateLimitError{RetryAfter: wait}
	}
	if wait := s.byAccount.take(login); wait > 0 {
		s.byIP.give(ipk)
		s.log.WarnContext(ctx, "login rate-limited", "by", "account", "client_ip", clientIP)
		return Tokens{}, &RateLimitError{RetryAfter: wait}
	}
	u, err := s.checkPassword(ctx, normalize(emailOrUsername), password)
	if err != nil {
		s.log.InfoContext(ctx, "login failed", "client_ip", clientIP)
		return Tokens{}, err
	}
	s.byAccount.reset(login)
	s.byIP.give(ipk)
	s.log.InfoContext(ctx, "login", "user_id", u.ID, "client_ip", clientIP)
	return s.startSession(ctx, u.ID)
}

// checkPassword returns the user whose password this is. It runs the hash
// whatever happens, on a dummy hash for an unknown user or one without a
// password, so response times do not reveal which accounts exist.
func (s *Service) checkPassword(ctx context.Context, login, password string) (User, error) {
	if len(password) > MaxPasswordLen { // no account has one: fail in the usual time
		s.hasher.Verify(password[:MaxPasswordLen], s.dummyHash())
		return User{}, ErrBadCredentials
	}
	u, hash, err := s.repo.UserByLogin(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.hasher.Verify(password, s.dummyHash())
		return User{}, fmt.Errorf("account: looking up the account: %w", err)
	}
	if err != nil || hash == "" {
		s.hasher.Verify(password, s.dummyHash())
		return User{}, ErrBadCredentials
	}
	ok, err := s.hasher.Verify(password, hash)
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID, "err", err)
		return User{}, ErrBadCredentials
	}
	if !ok {
		return User{}, ErrBadCredentials
	}
	if s.hasher.NeedsRehash(hash) {
		if h, err := s.hasher.Hash(password); err == nil {
			if err := s.repo.SetPasswordHash(ctx, u.ID, h); err != nil {
				s.log.WarnContext(ctx, "upgrading a password hash failed", "user_id", u.ID, "err", err)
			}
		}
	}
	return u, nil
}
